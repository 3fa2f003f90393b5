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
from dataclasses import dataclass
from typing import Any, Protocol

from service.core.spec import Dimension, JobSpec
from worker.engine.space import sample_point, to_python

# Metrics that live in [0, 1] and are maximised: modelled as log(1 - value), which spreads out
# the differences near 1.0 that matter and keeps hopeless corners from dominating the surrogate.
_BOUNDED_SCORES = ("val_accuracy",)
_EPS = 1e-4


@dataclass(frozen=True)
class Observation:
    """A finished trial as the optimizer sees it; ``value`` None means it failed or diverged."""

    params: Mapping[str, Any]
    value: float | None


class Suggester(Protocol):
    def suggest(
        self, finished: Sequence[Observation], pending: Sequence[Mapping[str, Any]], n: int
    ) -> list[dict[str, Any]]: ...


class RandomSearch:
    """Independent draws; trial ``k`` always gets the same point for a given seed."""

    def __init__(self, space: Mapping[str, Dimension], seed: int) -> None:
        self.space = space
        self.seed = seed

    def suggest(
        self, finished: Sequence[Observation], pending: Sequence[Mapping[str, Any]], n: int
    ) -> list[dict[str, Any]]:
        start = len(finished) + len(pending)
        return [sample_point(self.space, self.seed, start + i) for i in range(n)]


class BayesianSearch:
    """scikit-optimize's ask/tell, rebuilt from the finished trials on every call.

    The first ``n_initial`` trials come from the seeded random design. After that a surrogate is
    fitted to the finished trials (failed ones scored as the worst seen), running trials are
    told as constant lies so parallel suggestions spread out, and ``ask`` proposes the batch.
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
    ) -> None:
        self.names = sorted(space)
        self.space = space
        self.seed = seed
        self.n_initial = n_initial
        self.surrogate = surrogate
        self.acquisition = acquisition
        self.metric = metric
        self.direction = direction

    def suggest(
        self, finished: Sequence[Observation], pending: Sequence[Mapping[str, Any]], n: int
    ) -> list[dict[str, Any]]:
        start = len(finished) + len(pending)
        out: list[dict[str, Any]] = []
        while len(out) < n and start + len(out) < self.n_initial:
            out.append(sample_point(self.space, self.seed, start + len(out)))
        if len(out) == n:
            return out
        scored = [o for o in finished if o.value is not None and math.isfinite(o.value)]
        if len(scored) < 2:
            return out + [
                sample_point(self.space, self.seed, start + i) for i in range(len(out), n)
            ]
        return out + self._ask(finished, [*pending, *out], n - len(out))

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

        ys = {
            id(o): self.to_minimize(o.value)
            for o in finished
            if o.value is not None and math.isfinite(o.value)
        }
        worst = max(ys.values())
        optimizer = skopt.Optimizer(
            [self._skopt_dimension(name) for name in self.names],
            base_estimator=self.surrogate,
            acq_func=self.acquisition,
            n_initial_points=0,
            random_state=self.seed * 100_003 + len(finished),
        )
        xs = [[o.params[name] for name in self.names] for o in finished]
        y = [ys.get(id(o), worst) for o in finished]
        lie = min(y)
        xs += [[p[name] for name in self.names] for p in pending]
        y += [lie] * len(pending)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimizer.tell(xs, y)
            points = optimizer.ask(n_points=n, strategy="cl_min") if n > 1 else [optimizer.ask()]
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


def make_suggester(spec: JobSpec) -> Suggester:
    """The suggester a job's spec asks for."""
    search = spec.search
    if search.strategy == "random":
        return RandomSearch(spec.search_space, search.seed)
    return BayesianSearch(
        spec.search_space,
        seed=search.seed,
        n_initial=search.n_initial_points,
        surrogate=search.surrogate,
        acquisition=search.acquisition,
        metric=spec.training.objective.metric,
        direction=spec.training.objective.direction,
    )
