"""BOHB's surrogate (Falkner et al., ICML 2018): Hyperband's brackets, with configurations from a
model of the results at one number of epochs instead of at random.

Trials stopped at different rungs are not comparable: one judged after 3 epochs looks worse than
the same configuration after 27. BOHB therefore fits its model at the largest budget (rung, or
``max_epochs``) that at least ``min_points`` trials have reached, telling each of them its best
value up to that budget, and leaves the others out. BOHB's own model is a TPE; here it is the
job's scikit-optimize surrogate (``worker.engine.optimizer.BayesianSearch``), so the rest of the
Bayesian machinery (the initial design, constant liars for running trials, the objective's
transform) is the same as for ``strategy: bayesian``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from worker.engine.observation import Observation, Suggester


def fitting_budget(finished: Sequence[Observation], budgets: Sequence[int], min_points: int) -> int:
    """The largest of ``budgets`` (ascending) reached by ``min_points`` scored trials; the
    smallest when none is."""
    for budget in reversed(budgets):
        reached = [o for o in finished if o.value is not None and len(o.curve) >= budget]
        if len(reached) >= min_points:
            return budget
    return budgets[0]


def at_budget(finished: Sequence[Observation], budget: int, direction: str) -> list[Observation]:
    """The trials as the model sees them at ``budget`` epochs: their best value up to it, or,
    short of it, counted (for numbering) but not told. A failed trial stays a failure."""
    pick = max if direction == "max" else min
    out = []
    for o in finished:
        if o.value is None:
            out.append(o)
            continue
        values = [v for v in o.curve[:budget] if math.isfinite(v)]
        if len(o.curve) < budget or not values:
            out.append(dataclasses.replace(o, value=None, cancelled=True))
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
        budget = fitting_budget(finished, self.budgets, self.min_points)
        return self.inner.suggest(at_budget(finished, budget, self.direction), pending, n, prior)
