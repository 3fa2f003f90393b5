"""scikit-optimize (archived) made to work with the installed scikit-learn and NumPy.

Two of its surrogates break on scikit-learn >= 1.6 / NumPy 2: ``GBRT`` is refused as "not a
regressor" (its class lists ``BaseEstimator`` before ``RegressorMixin``, so the new estimator
tags miss its type) and its ``predict(return_std=True)`` calls the removed ``np.in1d``;
``dummy`` makes ``Optimizer`` call ``is_regressor(None)``, which now raises. The fixes live
here, not in a fork: a GBRT subclass with the right tags and prediction, and ``dummy`` served by
the space's own random sampler. Only ``worker.engine.optimizer`` uses this module (a control
worker's Celery process imports it early, to load scikit-optimize before forking).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from skopt.learning import GradientBoostingQuantileRegressor
from skopt.sampler import Grid, Halton, Hammersly, Lhs, Sobol
from skopt.space import Space

_STD_QUANTILES = (0.16, 0.5, 0.84)


class QuantileGBRT(GradientBoostingQuantileRegressor):
    """skopt's GBRT surrogate, tagged as a regressor, predicting its spread without np.in1d."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags

    def predict(self, X: Any, return_std: bool = False, return_quantiles: bool = False) -> Any:
        if return_quantiles or not return_std:
            return super().predict(X, return_std=False, return_quantiles=return_quantiles)
        quantiles = list(self.quantiles)
        low, mean, high = (self.regressors_[quantiles.index(q)].predict(X) for q in _STD_QUANTILES)
        return mean, (high - low) / 2.0


def base_estimator(
    surrogate: str, seed: int, dimensions: list[Any] | None = None, quick: bool = False
) -> Any:
    """What ``skopt.Optimizer`` gets as ``base_estimator`` for one of our surrogate names.

    ``quick``: a GP that fits its kernel from one start instead of three (a long search's
    suggestions stay fast; see ``worker.engine.optimizer.LARGE_HISTORY``).
    """
    if surrogate == "GP" and quick:
        from skopt.utils import cook_estimator

        return cook_estimator(
            "GP", space=Space(dimensions or []), random_state=seed, noise="gaussian",
            n_restarts_optimizer=0,
        )  # fmt: skip
    if surrogate == "GBRT":
        return QuantileGBRT(
            base_estimator=GradientBoostingRegressor(n_estimators=30, loss="quantile"),
            quantiles=list(_STD_QUANTILES),
            random_state=seed,
        )
    if surrogate == "dummy":
        raise ValueError("the dummy surrogate is random sampling; it has no model")
    return surrogate  # GP, RF, ET: skopt's own, which work as they are


FANTASY_CANDIDATES = 1000


def constant_liar(optimizer: Any, lie: float, n: int) -> list[list[Any]]:
    """``n`` points from an optimizer that has been told every finished trial: the first is
    its own next point; each further one comes after telling the previous as ``lie``.

    scikit-optimize's ``ask(n_points)`` refits the GP's kernel and runs L-BFGS on the
    acquisition for every point of the batch, so a batch of 8 cost eight full steps. Here the
    kernel stays as fitted for the first point (the lies add no information about length
    scales), and each further point is the best of ``FANTASY_CANDIDATES`` sampled candidates
    under the acquisition (EI where the job hedges between several): a point after the first
    costs a Cholesky solve and a prediction, not a fit. Other surrogates refit as
    scikit-optimize would.
    """
    from sklearn.base import clone
    from skopt.acquisition import _gaussian_acquisition
    from skopt.learning import GaussianProcessRegressor

    points = [optimizer.ask()]
    model = optimizer.models[-1] if optimizer.models else None
    if n <= 1:
        return points
    if not isinstance(model, GaussianProcessRegressor):
        while len(points) < n:
            optimizer.tell(points[-1], lie)
            points.append(optimizer.ask())
        return points
    space = optimizer.space
    fixed = clone(model).set_params(kernel=_fixed_kernel(model), optimizer=None)
    told = space.transform([*optimizer.Xi, points[0]])  # each lie joins it, transformed
    ys = [*optimizer.yi, lie]
    sampled = space.rvs(n_samples=FANTASY_CANDIDATES, random_state=optimizer.rng)
    candidates = _new(space.transform(sampled), told)
    acquisition = "EI" if optimizer.acq_func == "gp_hedge" else optimizer.acq_func
    while len(points) < n and len(candidates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = clone(fixed).fit(told, ys)
        values = _gaussian_acquisition(
            candidates, estimator, y_opt=min(ys), acq_func=acquisition,
            acq_func_kwargs=optimizer.acq_func_kwargs,
        )  # fmt: skip
        best = int(np.argmin(values))
        points.append(space.inverse_transform(candidates[best : best + 1])[0])
        told = np.vstack([told, candidates[best]])
        ys.append(lie)
        candidates = np.delete(candidates, best, axis=0)
    return points


def _new(candidates: Any, told: Any) -> Any:
    """The candidates that are not a point told already. Refills at the same step sample the
    same candidates (the random state follows the number of finished trials), and a noisy GP
    still sees promise at a point told as a lie: without this, a batch could repeat a trial
    that is running."""
    same = (np.abs(candidates[:, None, :] - told[None, :, :]) < 1e-12).all(axis=2).any(axis=1)
    return candidates[~same]


def _fixed_kernel(model: Any) -> Any:
    """The fitted kernel with its noise term put back (skopt zeroes it after fitting)."""
    from sklearn.base import clone
    from sklearn.gaussian_process.kernels import WhiteKernel
    from skopt.learning.gaussian_process.gpr import _param_for_white_kernel_in_Sum

    kernel = clone(model.kernel_)
    present, name = _param_for_white_kernel_in_Sum(kernel)
    if present and model.noise_ is not None:
        kernel.set_params(**{name: WhiteKernel(noise_level=model.noise_)})
    return kernel


SAMPLERS = {"sobol": Sobol, "halton": Halton, "hammersly": Hammersly, "lhs": Lhs, "grid": Grid}


def initial_design(space: Space, generator: str, n: int, seed: int) -> list[list[Any]]:
    """``n`` points of a space-filling design, the same for the same seed."""
    points = SAMPLERS[generator]().generate(space.dimensions, n, random_state=seed)
    return [[v.item() if isinstance(v, np.generic) else v for v in point] for point in points]
