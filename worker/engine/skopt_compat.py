"""scikit-optimize (archived) made to work with the installed scikit-learn and NumPy.

Two of its surrogates break on scikit-learn >= 1.6 / NumPy 2: ``GBRT`` is refused as "not a
regressor" (its class lists ``BaseEstimator`` before ``RegressorMixin``, so the new estimator
tags miss its type) and its ``predict(return_std=True)`` calls the removed ``np.in1d``;
``dummy`` makes ``Optimizer`` call ``is_regressor(None)``, which now raises. The fixes live
here, not in a fork: a GBRT subclass with the right tags and prediction, and ``dummy`` served by
the space's own random sampler. Only ``worker.engine.optimizer`` imports this module.
"""

from __future__ import annotations

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


SAMPLERS = {"sobol": Sobol, "halton": Halton, "hammersly": Hammersly, "lhs": Lhs, "grid": Grid}


def initial_design(space: Space, generator: str, n: int, seed: int) -> list[list[Any]]:
    """``n`` points of a space-filling design, the same for the same seed."""
    points = SAMPLERS[generator]().generate(space.dimensions, n, random_state=seed)
    return [[v.item() if isinstance(v, np.generic) else v for v in point] for point in points]
