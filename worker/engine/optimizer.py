"""Our small optimizer interface, with scikit-optimize behind it.

``Suggester.suggest(finished, pending, n)`` takes what is known and returns ``n`` new points. It
keeps no state between calls: the scheduler rebuilds it from the stored trials each time, so a
restarted worker or a second worker continues the same search. scikit-optimize (archived) is
used only in ``BayesianSearch``; replacing it touches this module alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service.core.spec import Dimension, JobSpec, Strategy
from service.core.spec.brackets import brackets, budgets
from service.core.spec.grid import distinct_grid, grid_point, grid_size
from worker.engine.bohb import BudgetedSearch
from worker.engine.observation import Observation, Suggester
from worker.engine.parego import ParEGO
from worker.engine.space import center_point, sample_point, to_python

__all__ = ["BayesianSearch", "Observation", "Suggester", "make_suggester"]

# Metrics at most 1 and maximised: modelled as log(1 - value), which spreads out the differences
# near 1.0 that matter and keeps hopeless corners from dominating the surrogate.
_BOUNDED_SCORES = ("val_accuracy", "val_auc", "val_precision", "val_recall", "val_f1", "val_r2")
_EPS = 1e-4

# Past LARGE_HISTORY finished trials the surrogate is kept cheap (bench/suggest.py measures it):
# it sees at most SURROGATE_TRIALS of them (the best half and an even spread of the rest), the
# GP fits its kernel once instead of three times, and the acquisition is maximised over
# ACQ_POINTS sampled candidates instead of by L-BFGS from five starts. Below it, scikit-optimize's
# defaults stand unchanged.
LARGE_HISTORY = 50
SURROGATE_TRIALS = 100
ACQ_POINTS = 2000


class RandomSearch:
    """Independent draws; trial ``k`` always gets the same point for a given seed."""

    def __init__(self, space: Mapping[str, Dimension], seed: int) -> None:
        self.space = space
        self.seed = seed

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        start = len(finished) + len(pending)
        return [sample_point(self.space, self.seed, start + i) for i in range(n)]


class GridSearch:
    """Every point of the grid in a fixed order, or (``sample``) a seeded random subset of it."""

    def __init__(
        self,
        space: Mapping[str, Dimension],
        steps: int,
        seed: int,
        sample: bool,
        budget: int,
        distinct: list[dict[str, Any]] | None = None,
    ) -> None:
        self.space, self.steps, self.distinct = space, steps, distinct
        size = len(distinct) if distinct is not None else grid_size(space, steps)
        if sample and size > budget:
            order = np.random.default_rng(seed).choice(size, size=budget, replace=False)
            self.order = [int(i) for i in order]
        else:
            self.order = list(range(size))

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        start = len(finished) + len(pending)
        picks = self.order[start : start + n]
        if self.distinct is not None:
            return [dict(self.distinct[index]) for index in picks]
        return [grid_point(self.space, self.steps, index) for index in picks]


class RangeTest:
    """The learning-rate range test runs one trial of the fixed configuration."""

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        return [{} for _ in range(min(n, 1 - len(finished) - len(pending)))]


class BayesianSearch:
    """scikit-optimize's ask/tell, rebuilt from the finished trials on every call.

    The first ``n_initial`` trials come from the seeded initial design (a job's default: the
    middle of the space, then random points; or random, or one of skopt's space-filling
    generators), fewer when a warm start brings earlier results. After
    that a surrogate is fitted to the finished trials (failed ones scored as the worst seen),
    running trials are told as constant lies so parallel suggestions spread out, and ``ask``
    proposes the batch. Hyperparameters that were inactive in a trial (``units_3`` with two
    layers) are told at a fixed stand-in value. The ``dummy`` surrogate is random sampling.
    """

    def __init__(
        self,
        space: Mapping[str, Dimension],
        *,
        seed: int,
        n_initial: int,
        surrogate: str,
        acquisition: str,
        metric: str,
        direction: str,
        generator: str = "random",
    ) -> None:
        self.names = sorted(space)
        self.generator = generator
        self.space = space
        self.seed = seed
        self.n_initial = n_initial
        self.surrogate = surrogate
        self.acquisition = acquisition
        self.metric = metric
        self.direction = direction

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        start = len(finished) + len(pending)
        known = [*prior, *finished]
        n_initial = self._n_initial(prior)
        out: list[dict[str, Any]] = []
        while len(out) < n and start + len(out) < n_initial:
            out.append(self._initial_point(start + len(out), n_initial, prior))
        if len(out) == n:
            return out
        if len(_scored(known)) < 2 or self.surrogate == "dummy":
            return out + [
                sample_point(self.space, self.seed, start + i) for i in range(len(out), n)
            ]
        return out + self._ask(known, [*pending, *out], n - len(out))

    def model_points(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> int:
        """How many of the next ``n`` points need the surrogate; the others come from the
        initial design, or at random while fewer than two trials have a score."""
        if self.surrogate == "dummy" or len(_scored([*prior, *finished])) < 2:
            return 0
        return n - min(n, self._initial_left(finished, pending, prior))

    def ask_ahead(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        """``n`` surrogate points for after the initial design, computed before they are
        needed: the initial points still to come are told as running, like ``pending``."""
        known = [*prior, *finished]
        if n <= 0 or self.surrogate == "dummy" or len(_scored(known)) < 2:
            return []
        start = len(finished) + len(pending)
        n_initial = self._n_initial(prior)
        coming = [
            self._initial_point(start + i, n_initial, prior)
            for i in range(self._initial_left(finished, pending, prior))
        ]
        return self._ask(known, [*pending, *coming], n)

    def _n_initial(self, prior: Sequence[Observation]) -> int:
        """The initial design's size: shorter by what a warm start brings."""
        return max(0, self.n_initial - len(_scored(prior)))

    def _initial_left(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        prior: Sequence[Observation],
    ) -> int:
        return max(0, self._n_initial(prior) - len(finished) - len(pending))

    def _initial_point(
        self, number: int, n_initial: int, prior: Sequence[Observation] = ()
    ) -> dict[str, Any]:
        if self.generator == "center" and number == 0:
            center = center_point(self.space)
            if not _tried(center, prior):
                return center
        if self.generator in ("center", "random"):
            return sample_point(self.space, self.seed, number)
        from worker.engine.skopt_compat import initial_design

        design = initial_design(self._skopt_space(), self.generator, n_initial, self.seed)
        point = design[number % len(design)]
        return {name: to_python(v) for name, v in zip(self.names, point, strict=True)}

    def _skopt_space(self) -> Any:
        from skopt.space import Space

        return Space([self._skopt_dimension(name) for name in self.names])

    def _vector(self, params: Mapping[str, Any]) -> list[Any]:
        """A point as skopt sees it; an inactive name gets its stand-in (low end, first choice)."""
        out = []
        for name in self.names:
            dim = self.space[name]
            if name in params:
                out.append(params[name])
            elif dim.type == "categorical":
                out.append((dim.choices or ())[0])
            else:
                out.append(int(dim.low or 0) if dim.type == "int" else dim.low)
        return out

    def to_minimize(self, value: float) -> float:
        """The objective as scikit-optimize minimises it."""
        if self.metric in _BOUNDED_SCORES and self.direction == "max":
            return math.log(max(1.0 - value, _EPS))
        if self.direction == "min" and value >= 0:
            return math.log(value + _EPS)
        return -value if self.direction == "max" else value

    def _ask(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
    ) -> list[dict[str, Any]]:
        import skopt  # deferred: scheduling code paths that never go Bayesian skip the import

        from worker.engine.skopt_compat import base_estimator, constant_liar

        ys = {
            id(o): self.to_minimize(o.value)
            for o in finished
            if o.value is not None and math.isfinite(o.value)
        }
        worst = max(ys.values())
        step = len(finished)
        finished = [o for o in finished if not o.cancelled]
        large = len(finished) > LARGE_HISTORY
        dimensions = [self._skopt_dimension(name) for name in self.names]
        options: dict[str, Any] = {}
        if large:
            options = {
                "acq_optimizer": "sampling",
                "acq_optimizer_kwargs": {"n_points": ACQ_POINTS},
            }
            finished = surrogate_sample(finished, ys, SURROGATE_TRIALS)
        optimizer = skopt.Optimizer(
            dimensions,
            base_estimator=base_estimator(self.surrogate, self.seed, dimensions, quick=large),
            acq_func=self.acquisition,
            n_initial_points=0,
            random_state=self.seed * 100_003 + step,
            **options,
        )
        xs = [self._vector(o.params) for o in finished]
        y = [ys.get(id(o), worst) for o in finished]
        lie = min(y)
        xs += [self._vector(p) for p in pending]
        y += [lie] * len(pending)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer.tell(xs, y)
            points = constant_liar(optimizer, lie, n)
        return [
            {name: to_python(value) for name, value in zip(self.names, point, strict=True)}
            for point in points
        ]

    def _skopt_dimension(self, name: str) -> Any:
        from skopt.space import Categorical, Integer, Real

        dim = self.space[name]
        if dim.type == "categorical":
            return Categorical(list(dim.choices or ()), name=name)
        prior = "log-uniform" if dim.log else "uniform"
        if dim.type == "int":
            return Integer(int(dim.low or 0), int(dim.high or 0), prior=prior, name=name)
        return Real(dim.low, dim.high, prior=prior, name=name)


def surrogate_sample(
    finished: Sequence[Observation], ys: Mapping[int, float], size: int
) -> list[Observation]:
    """At most ``size`` trials for the surrogate: the best half (where the search is heading)
    and, from the rest, an even spread in trial order (what it learned about the whole space)."""
    if len(finished) <= size:
        return list(finished)
    worst = max(ys.values())
    ranked = sorted(finished, key=lambda o: ys.get(id(o), worst))
    best = ranked[: size // 2]
    chosen = {id(o) for o in best}
    rest = [o for o in finished if id(o) not in chosen]
    step = len(rest) / (size - len(best))
    spread = [rest[int(i * step)] for i in range(size - len(best))]
    return best + spread


def _tried(point: Mapping[str, Any], prior: Sequence[Observation]) -> bool:
    """Whether a warm start's source trained ``point`` already (on the names its trial had:
    the inactive ones are not stored)."""
    return any(
        o.params and all(point.get(name) == value for name, value in o.params.items())
        for o in prior
    )


def _scored(observations: Sequence[Observation]) -> list[Observation]:
    return [o for o in observations if o.value is not None and math.isfinite(o.value)]


def make_suggester(spec: JobSpec) -> Suggester:
    """The suggester a job's spec asks for."""
    search = spec.search
    if search.strategy == Strategy.RANDOM:
        return RandomSearch(spec.search_space, search.seed)
    if search.strategy == Strategy.GRID:
        distinct = distinct_grid(
            spec.search_space, search.grid_steps, spec.resolved_fixed, spec.model.family,
            spec.task, spec.model.layers,
        )  # fmt: skip
        return GridSearch(
            spec.search_space,
            search.grid_steps,
            search.seed,
            search.grid_sample,
            search.max_trials,
            distinct,
        )
    if search.strategy == Strategy.LR_RANGE_TEST:
        return RangeTest()
    if search.strategy == Strategy.HYPERBAND:
        return RandomSearch(spec.search_space, search.seed)
    objectives = spec.training.objectives
    bayesian = BayesianSearch(
        spec.search_space,
        seed=search.seed,
        n_initial=search.n_initial_points,
        surrogate=search.surrogate.value,  # scikit-optimize gets plain strings
        acquisition=search.acquisition.value,
        # ParEGO's scalarised costs, told negated to be maximised: modelled raw, as Knowles does
        metric="parego" if objectives else spec.training.objective.metric,
        direction="max" if objectives else spec.training.objective.direction.value,
        generator=search.initial_point_generator.value,
    )
    if objectives:
        return ParEGO(bayesian, objectives, search.seed)
    if search.strategy != Strategy.BOHB:
        return bayesian
    # BOHB fits its model once the results at a budget outnumber the dimensions (d + 1)
    epochs = budgets(spec.training.max_epochs, brackets(spec.training.max_epochs, search.hyperband))
    direction = spec.training.objective.direction.value
    return BudgetedSearch(bayesian, epochs, len(spec.search_space) + 1, direction)
