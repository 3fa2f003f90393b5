"""ParEGO (Knowles, IEEE TEC 2006): Bayesian search over several objectives through one
surrogate, by scalarising them with weights drawn afresh at every step.

Each objective is scaled to [0, 1] over the trials so far (0: the best seen), and a trial's
score is the augmented Chebyshev scalarisation ``max_i(w_i f_i) + 0.05 * sum_i(w_i f_i)``, which
(unlike a weighted sum) can reach every point of a concave front. The weights are seeded by the
step, so a restarted or second worker suggests the same point from the same trials, and they
sweep the simplex over the steps, so the search spreads along the whole front. The surrogate,
its initial design and its constant liars are those of ``strategy: bayesian``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service.core.pareto import costs
from service.core.spec import ObjectiveSpec
from worker.engine.observation import Observation, Suggester

RHO = 0.05  # Knowles's weight of the sum beside the maximum


def weights(seed: int, step: int, k: int) -> np.ndarray:
    """Step ``step``'s weights: uniform on the simplex (a flat Dirichlet)."""
    return np.random.default_rng([seed, step, 7]).dirichlet(np.ones(k))


def scalarised(
    observations: Sequence[Observation], objectives: Sequence[ObjectiveSpec], w: np.ndarray
) -> list[Observation]:
    """The trials with one value each, lower better: the scalarisation of their scaled costs.
    A trial without every objective is a failure if it failed, else counted but not told."""
    points = {id(o): costs(o.metrics, objectives) for o in observations if o.value is not None}
    known = np.array([p for p in points.values() if p is not None]).reshape(-1, len(objectives))
    low = known.min(axis=0) if len(known) else np.zeros(len(objectives))
    span = np.where(known.max(axis=0) > low, known.max(axis=0) - low, 1.0) if len(known) else 1.0
    out = []
    for o in observations:
        point = points.get(id(o))
        if o.value is None:
            out.append(o)
        elif point is None:
            out.append(dataclasses.replace(o, value=None, cancelled=True))
        else:
            f = w * (np.array(point) - low) / span
            out.append(dataclasses.replace(o, value=float(f.max() + RHO * f.sum())))
    return out


class ParEGO:
    """``inner`` (a Bayesian search that maximises its value as it is, without a transform)
    told the scalarised trials, negated (see the module's docstring)."""

    def __init__(self, inner: Suggester, objectives: Sequence[ObjectiveSpec], seed: int) -> None:
        self.inner, self.objectives, self.seed = inner, tuple(objectives), seed

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        w = weights(self.seed, len(finished) + len(pending), len(self.objectives))
        told = [
            o if o.value is None else dataclasses.replace(o, value=-o.value)
            for o in scalarised([*prior, *finished], self.objectives, w)
        ]
        return self.inner.suggest(told[len(prior) :], pending, n, told[: len(prior)])
