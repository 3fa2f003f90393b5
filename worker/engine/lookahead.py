"""Bayesian suggestions made ahead of need, for jobs that run trials in parallel.

Fitting the surrogate takes a few hundred milliseconds. Done inside ``advance``, under the job's
lock, it made eight workers with one-second trials queue for suggestions (3.3 x the ideal
wall). A parallel Bayesian job therefore gets its surrogate points from a *refill*: a control
task that, outside the lock, fits the surrogate once on every finished trial (running ones and
the initial points still to come told as constant lies) and stores ``AHEAD_BATCHES`` batches
of ``parallelism`` points. An advance takes from the front, which costs a Redis read, and asks
for the next refill as soon as fewer than that would be left; one refill per job runs at a
time, and its end sends an advance so the new points reach free slots at once.

A point handed out this way may not have seen the trials that finished while its refill ran:
that is the price of not waiting, the same one every constant-liar batch pays. Points whose
refill saw ``STALE_AFTER`` batches fewer finished trials than the job now has are dropped.
A job with ``parallelism = 1`` never uses this: its worker waits for the next point either
way, so that point is computed in ``advance`` from every result, as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.core.spec import JobSpec, Strategy
from service.core.store.ahead import AheadPoint
from worker.engine.optimizer import BayesianSearch, Observation

AHEAD_BATCHES = 2
STALE_AFTER = 3
REFILL_LEASE_S = 60.0


@dataclass(frozen=True)
class Taken:
    """Points for the free slots (initial design first, then ones made ahead), how many points
    of stored batch ``batch`` to remove from its front, and whether to ask for a refill."""

    points: list[dict[str, Any]]
    drop: int
    batch: str
    refill: bool


def uses_lookahead(spec: JobSpec) -> bool:
    """Whether the job's surrogate points come from refills rather than from ``advance``: a
    parallel search on the GP, whose batch costs one fit (``skopt_compat.constant_liar``).
    The tree surrogates refit for every point of a batch, so they stay in ``advance``."""
    search = spec.search
    return (
        search.strategy == Strategy.BAYESIAN
        and search.parallelism > 1
        and search.surrogate.value == "GP"
        and not spec.training.objectives  # ParEGO draws new weights at every step
    )


def take(
    search: BayesianSearch,
    finished: Sequence[Observation],
    pending: Sequence[Mapping[str, Any]],
    slots: int,
    remaining: int,
    ahead: Sequence[AheadPoint],
    parallelism: int,
    prior: Sequence[Observation] = (),
    created: Sequence[Mapping[str, Any]] = (),
) -> Taken:
    """Fill up to ``slots`` (of ``remaining`` trials the job may still create) without
    fitting anything: initial or random points as ``suggest`` makes them, surrogate points from
    ``ahead`` while they last. ``created`` holds every trial's params by number. A stored point
    equal to a trial its refill did not know of is passed over: two refills from one state
    make the same points, and the first one's may have run since. A point equal to a trial it
    knew of is the surrogate's choice and runs, as it would have from ``suggest``."""
    slots = max(0, min(slots, remaining))
    batch = ahead[0].batch if ahead else ""
    stale = bool(ahead) and ahead[0].basis < len(finished) - STALE_AFTER * parallelism
    model = search.model_points(finished, pending, slots, prior)
    points = search.suggest(finished, pending, slots - model, prior) if slots > model else []
    unknown = {_key(p) for p in [*created[ahead[0].created :], *points]} if ahead else set()
    used, taken = 0, 0  # points read from the front (taken, or passed over); taken
    for point in [] if stale else ahead:
        if taken == model:
            break
        used += 1
        if _key(point.params) not in unknown:
            points.append(dict(point.params))
            unknown.add(_key(point.params))
            taken += 1
    drop = len(ahead) if stale else used
    upcoming = min(AHEAD_BATCHES * parallelism, remaining - len(points))
    needed = search.model_points(finished, [*pending, *points], upcoming, prior)
    return Taken(points=points, drop=drop, batch=batch, refill=needed > len(ahead) - drop)


def _key(params: Mapping[str, Any]) -> str:
    return json.dumps(dict(params), sort_keys=True, default=str)
