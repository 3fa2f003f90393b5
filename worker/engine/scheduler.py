"""Deciding what a job does next: new trials, finalization, or nothing.

``advance_job`` is called after a job is submitted, after each trial finishes, and by the sweep.
It is safe to call any number of times, concurrently or redelivered: it holds the job's lock
while it reads the stored trials, the store refuses trials beyond the budget, and finalization
is claimed under a lease.

The decision is ``plan_advance``, a pure function of the job, its trials and the time; the
optimizer it asks is I/O-free too. ``advance_job`` reads what the plan needs and applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.core.records import JobRecord, TrialRecord, TrialState
from service.core.spec import Dimension, DimensionType, JobSpec, Strategy
from service.core.store import JobNotFound
from service.core.store.protocols import EngineStore, Trials
from service.core.vocabulary import active_params
from worker.engine.optimizer import Observation, make_suggester

OUT_OF_TIME = "max_duration_s reached"


SendTrial = Callable[[int, "float | None"], None]
"""Sends trial ``n`` to the trials queue, with its time limit (seconds) if it has one."""


@dataclass(frozen=True)
class AdvancePlan:
    """What the job should do now: record and send ``new_points`` as trials, send again the
    queued trials in ``resend`` (recorded by an advance that died before sending them), or
    finalize (with ``stop_reason`` when it ends before its budget)."""

    new_points: tuple[Mapping[str, Any], ...] = ()
    resend: tuple[int, ...] = ()
    finalize: bool = False
    stop_reason: str | None = None


@dataclass(frozen=True)
class Advance:
    """What happened: trials sent, finalization due (the caller sends it), or lock busy."""

    dispatched: list[int] = field(default_factory=list)
    finalize: bool = False
    busy: bool = False


def free_slots(job: JobRecord, trials: Sequence[TrialRecord], now: float) -> int:
    """How many new trials the job may start now: its parallelism less what is in flight,
    within the budget, and none once its ``max_duration_s`` has passed."""
    in_flight = sum(1 for t in trials if not t.state.is_finished)
    remaining = 0 if _out_of_time(job, now) else job.max_trials - len(trials)
    return min(job.spec.search.parallelism - in_flight, remaining)


def plan_advance(
    job: JobRecord,
    trials: Sequence[TrialRecord],
    now: float,
    prior: Sequence[Observation] = (),
) -> AdvancePlan:
    """Decide the job's next step from what the store holds; ``prior`` holds the scored
    trials of the jobs it warm-starts from."""
    spec = job.spec
    finished = [t for t in trials if t.state.is_finished]
    in_flight = [t for t in trials if not t.state.is_finished]
    unsent = tuple(
        t.number for t in in_flight if t.state == TrialState.QUEUED and t.dispatched_at is None
    )
    slots = free_slots(job, trials, now)
    points: tuple[Mapping[str, Any], ...] = ()
    if slots > 0:
        suggested = make_suggester(spec).suggest(
            [_observation(t) for t in finished],
            [t.params for t in in_flight],
            slots,
            prior=prior,
        )
        family, task = spec.model.family, spec.task
        points = tuple(active_params(spec.fixed, p, family, task) for p in suggested)
    if points or unsent:
        return AdvancePlan(new_points=points, resend=unsent)
    out_of_time = _out_of_time(job, now)
    remaining = 0 if out_of_time else job.max_trials - len(trials)
    if remaining > 0 or in_flight:
        return AdvancePlan()
    early = out_of_time and len(trials) < job.max_trials
    return AdvancePlan(finalize=True, stop_reason=OUT_OF_TIME if early else None)


def advance_job(
    store: EngineStore, job_id: str, *, finalize_lease_s: float, send_trial: SendTrial
) -> Advance:
    """Plan and apply the job's next step while holding its lock (so that two advances never
    send the same new trial). Finalization is claimed under a lease before it is reported due.

    Raises:
        JobNotFound: the job is gone.
    """
    with store.locks.advance(job_id) as held:
        if not held:
            return Advance(busy=True)
        job = store.jobs.get(job_id)
        if job.status.is_finished:
            return Advance()
        trials = store.trials.list(job_id)
        now = store.server_time()
        wants_points = free_slots(job, trials, now) > 0
        prior = warm_start(store.trials, job.spec) if wants_points else []
        plan = plan_advance(job, trials, now, prior)
        return apply_advance(store, job, plan, finalize_lease_s, send_trial)


def apply_advance(
    store: EngineStore,
    job: JobRecord,
    plan: AdvancePlan,
    finalize_lease_s: float,
    send_trial: SendTrial,
) -> Advance:
    """Record the plan's new trials, send them (and the ones to resend), or claim the job's
    finalization."""
    training = job.spec.training
    limit = training.hard_time_limit_s or training.time_limit_s
    numbers = [*plan.resend, *store.trials.add(job.id, plan.new_points)]
    for number in numbers:
        send_trial(number, limit)
        store.trials.mark_dispatched(job.id, number)
    if numbers:
        return Advance(dispatched=numbers)
    if plan.finalize and store.jobs.claim_finalize(job.id, finalize_lease_s):
        if plan.stop_reason:
            store.jobs.set_stop_reason(job.id, plan.stop_reason)
        return Advance(finalize=True)
    return Advance()


def warm_start(trials: Trials, spec: JobSpec) -> list[Observation]:
    """The scored trials of the spec's earlier jobs that lie inside its search space (jobs that
    expired since are skipped)."""
    prior: list[Observation] = []
    if spec.search.strategy != Strategy.BAYESIAN:
        return prior  # only a model learns from them; random and grid points do not change
    for job_id in spec.search.warm_start:
        try:
            earlier = trials.list(job_id)
        except JobNotFound:
            continue
        prior += [
            _observation(t)
            for t in earlier
            if t.state.has_value and inside(spec.search_space, t.params)
        ]
    return prior


def inside(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> bool:
    """Whether every searched value is in the space (an absent, inactive one is fine)."""
    if not set(params) <= set(space):
        return False
    for name, value in params.items():
        dim = space[name]
        if dim.type == DimensionType.CATEGORICAL:
            if value not in (dim.choices or ()):
                return False
        elif not (dim.low or 0) <= value <= (dim.high or 0):
            return False
    return True


def _out_of_time(job: JobRecord, now: float) -> bool:
    return job.deadline_at is not None and now > job.deadline_at


def _observation(trial: TrialRecord) -> Observation:
    value = trial.value if trial.state.has_value else None
    return Observation(params=trial.params, value=value)
