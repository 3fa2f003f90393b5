"""What a search knows of a finished trial, and the interface every search offers.

Apart from ``worker.engine.optimizer`` so that searches built around another (BOHB's budgets,
``worker.engine.bohb``) can share them without an import circle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Observation:
    """A finished trial as the optimizer sees it; ``value`` None means it failed or diverged,
    or (``cancelled``) it is not to be told: a cancel or the job's time limit stopped it, or it
    lacks what a search compares (BOHB's budget, ParEGO's objectives). A cancelled trial counts
    where points are numbered (random, grid, the initial design) but the surrogate is not told
    of it: its configuration did not fail, and told as a failure it would steer an extended
    job's search away from a point never tried. ``curve`` is the objective after each epoch and
    ``complete`` whether the trial trained as long as it would (not stopped at a rung), for the
    searches that compare trials at a number of epochs (BOHB); ``metrics`` what the trial
    measured, for the searches over several objectives (ParEGO)."""

    params: Mapping[str, Any]
    value: float | None
    cancelled: bool = False
    curve: tuple[float, ...] = ()
    complete: bool = False
    metrics: Mapping[str, float] = field(default_factory=dict)


class Suggester(Protocol):
    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        """``n`` new points given this job's finished and running trials; ``prior`` holds the
        finished trials of earlier jobs to learn from (warm start)."""
        ...
