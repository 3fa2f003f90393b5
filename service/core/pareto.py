"""The Pareto front of a job with several objectives, and the hypervolume it dominates.

Plain arithmetic shared by the worker (which writes the front into the job's summary) and the
report (which draws it). Every point is a tuple of costs, each objective turned so that lower is
better. A trial is on the front when no other trial is at least as good in every objective and
better in one.

The hypervolume is the volume of the objective space the front dominates, up to a reference
point: by convention (as in most multi-objective benchmarks) the worst value each objective
took among the job's trials, pushed out by a tenth of its range so that the extreme points of
the front count. ``normalised`` divides it by the box between the best values and the
reference, so that it reads as a fraction (1: one trial was best at everything).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.core.records import TrialRecord, TrialState
from service.core.spec import ObjectiveSpec

Point = tuple[float, ...]

MARGIN = 0.1  # of each objective's range, beyond its worst value: the reference point


def costs(metrics: Mapping[str, float], objectives: Sequence[ObjectiveSpec]) -> Point | None:
    """The trial's objectives as costs (lower is better); None when one is missing or not
    finite."""
    out = []
    for objective in objectives:
        value = metrics.get(objective.metric)
        if value is None or not math.isfinite(value):
            return None
        out.append(float(value) if objective.direction == "min" else -float(value))
    return tuple(out)


def dominates(a: Point, b: Point) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def front(points: Sequence[Point]) -> list[int]:
    """The indices of the points no other point dominates (equal points are all kept). In
    lexicographic order a point can only be dominated by one before it, and then by one already
    kept, so each is compared with the front so far, not with every point."""
    kept: list[int] = []
    for i in sorted(range(len(points)), key=lambda i: points[i]):
        if not any(dominates(points[j], points[i]) for j in kept):
            kept.append(i)
    return sorted(kept)


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """The volume dominated by ``points`` and bounded by ``reference``, exactly: in two
    objectives by one sweep, in more by slicing along the last one (Hypervolume by Slicing
    Objectives, While et al. 2006), O(n^(k-1) log n) for n points."""
    inside = [p for p in points if all(x < r for x, r in zip(p, reference, strict=True))]
    if not inside:
        return 0.0
    if len(reference) == 1:
        return reference[0] - min(p[0] for p in inside)
    if len(reference) == 2:
        volume, lowest = 0.0, reference[1]
        for x, y in sorted(inside):
            if y < lowest:
                volume += (reference[0] - x) * (lowest - y)
                lowest = y
        return volume
    inside.sort(key=lambda p: p[-1])
    volume = 0.0
    for i, point in enumerate(inside):
        upper = inside[i + 1][-1] if i + 1 < len(inside) else reference[-1]
        if upper > point[-1]:
            below = [q[:-1] for q in inside[: i + 1]]
            volume += (upper - point[-1]) * hypervolume(below, reference[:-1])
    return volume


@dataclass(frozen=True)
class Front:
    """The front's trials (by number), the reference point and the hypervolume, in costs."""

    trials: list[int]
    points: dict[int, Point]
    reference: Point
    ideal: Point
    hypervolume: float

    @property
    def normalised(self) -> float:
        box = math.prod(r - i for r, i in zip(self.reference, self.ideal, strict=True))
        return self.hypervolume / box if box > 0 else 0.0


def job_front(trials: Sequence[TrialRecord], objectives: Sequence[ObjectiveSpec]) -> Front | None:
    """The front of the job's completed trials (a stopped trial's partial values are not a
    model's); None when no completed trial measured every objective, or there are none."""
    if not objectives:
        return None
    points = {
        t.number: p
        for t in trials
        if t.state == TrialState.COMPLETED and (p := costs(t.metrics, objectives)) is not None
    }
    if not points:
        return None
    numbers = list(points)
    values = [points[n] for n in numbers]
    ideal = tuple(min(column) for column in zip(*values, strict=True))
    worst = tuple(max(column) for column in zip(*values, strict=True))
    reference = tuple(
        w + MARGIN * (w - b) if w > b else w + MARGIN * max(abs(w), 1.0)
        for b, w in zip(ideal, worst, strict=True)
    )
    on_front = [numbers[i] for i in front(values)]
    volume = hypervolume([points[n] for n in on_front], reference)
    return Front(on_front, points, reference, ideal, volume)
