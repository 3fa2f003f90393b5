"""BOHB's surrogate (Falkner et al., ICML 2018): Hyperband's brackets, with configurations from a
model of the results at one number of epochs instead of at random.

Trials stopped at different rungs are not comparable: one judged after 3 epochs looks worse than
the same configuration after 27. BOHB therefore fits its model at the largest budget (rung, or
``max_epochs``) that more trials have reached than there are dimensions (``min_points``), telling
each its best value up to that budget and leaving the others out; until some budget has that
many, configurations are random. A trial that completed (all its epochs, or as many as early
stopping gave it) reached every budget: past the end of its curve it is told its own value.
BOHB's own model is a TPE; here it is the job's scikit-optimize surrogate
(``worker.engine.optimizer.BayesianSearch``), so the rest of the Bayesian machinery (the initial
design, constant liars for running trials, the objective's transform) is that of ``bayesian``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from worker.engine.observation import Observation, Suggester


def reached(observation: Observation, budget: int) -> bool:
    return observation.value is not None and (
        observation.complete or len(observation.curve) >= budget
    )


def fitting_budget(
    finished: Sequence[Observation], budgets: Sequence[int], min_points: int
) -> int | None:
    """The largest of ``budgets`` that ``min_points`` scored trials reached (None: none)."""
    for budget in reversed(budgets):
        if sum(reached(o, budget) for o in finished) >= min_points:
            return budget
    return None


def at_budget(
    finished: Sequence[Observation], budget: int | None, direction: str
) -> list[Observation]:
    """The trials as the model sees them at ``budget`` epochs: their best value up to it (their
    own past the end of a completed one's curve), or, short of it, counted (for numbering) but
    not told. A failed trial stays a failure. No budget: none is told."""
    pick = max if direction == "max" else min
    out = []
    for o in finished:
        if o.value is None:
            out.append(o)
            continue
        values = [v for v in o.curve[:budget] if math.isfinite(v)] if budget else []
        if budget is None or not reached(o, budget) or not values:
            out.append(dataclasses.replace(o, value=None, cancelled=True))
        elif o.complete and budget >= len(o.curve):
            out.append(o)
        else:
            out.append(dataclasses.replace(o, value=pick(values)))
    return out


class BudgetedSearch:
    """A search told each trial's result at one common budget (see the module's docstring)."""

    def __init__(
        self, inner: Suggester, budgets: Sequence[int], min_points: int, direction: str
    ) -> None:
        self.inner, self.budgets = inner, tuple(budgets)
        self.min_points, self.direction = min_points, direction

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        budget = fitting_budget([*prior, *finished], self.budgets, self.min_points)
        told = at_budget([*prior, *finished], budget, self.direction)
        return self.inner.suggest(told[len(prior) :], pending, n, told[: len(prior)])
