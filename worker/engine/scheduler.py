"""Deciding what a job does next: new trials, finalization, or nothing.

``advance_job`` is called after a job is submitted, after each trial finishes, and by the sweep.
It is safe to call any number of times, concurrently or redelivered: it holds the job's lock
while it reads the stored trials, the store refuses trials beyond the budget, and finalization
is claimed under a lease.

The decision is ``plan_advance``, a pure function of the job, its trials and the time; the
optimizer it asks is I/O-free too. ``advance_job`` reads what the plan needs and applies it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.core.records import JobRecord, JobStatus, TrialRecord, TrialState
from service.core.spec import Dimension, DimensionType, JobSpec, Strategy
from service.core.store import JobNotFound
from service.core.store.ahead import AheadPoint
from service.core.store.protocols import EngineStore, Trials
from service.core.vocabulary import active_params
from worker.engine.lookahead import AHEAD_BATCHES, REFILL_LEASE_S, take, uses_lookahead
from worker.engine.optimizer import BayesianSearch, Observation, make_suggester

OUT_OF_TIME = "max_duration_s reached"
OUT_OF_BUDGET = "the tenant's daily compute budget is spent (TUNEQ_TENANT_TRIAL_EPOCHS_PER_DAY)"


SendTrial = Callable[[int, "float | None"], None]
"""Sends trial ``n`` to the trials queue, with its time limit (seconds) if it has one."""

SendRefill = Callable[[str], None]
"""Sends the job's refill of suggestions made ahead, with the token of its refill lock."""


@dataclass(frozen=True)
class AdvancePlan:
    """What the job should do now: record and send ``new_points`` as trials, send again the
    queued trials in ``resend`` (recorded by an advance that died before sending them), or
    finalize (with ``stop_reason`` when it ends before its budget). A parallel Bayesian job
    also removes ``drop_ahead`` points made ahead (taken, or too old) and may ask for a
    ``refill`` of them (``worker.engine.lookahead``)."""

    new_points: tuple[Mapping[str, Any], ...] = ()
    resend: tuple[int, ...] = ()
    finalize: bool = False
    stop_reason: str | None = None
    drop_ahead: int = 0
    ahead_batch: str = ""
    refill: bool = False


@dataclass(frozen=True)
class Advance:
    """What happened: trials sent, finalization due (the caller sends it), or lock busy."""

    dispatched: list[int] = field(default_factory=list)
    finalize: bool = False
    busy: bool = False
    refill_sent: bool = False


def free_slots(
    job: JobRecord, trials: Sequence[TrialRecord], now: float, compute_left: int | None = None
) -> int:
    """How many new trials the job may start now: its parallelism less what is in flight,
    within its trial budget, and none once its ``max_duration_s`` has passed or its tenant's
    compute for the day (``compute_left`` trial-epochs; None: no limit) is spent."""
    in_flight = sum(1 for t in trials if not t.state.is_finished)
    return min(job.spec.search.parallelism - in_flight, _remaining(job, trials, now, compute_left))


def plan_advance(
    job: JobRecord,
    trials: Sequence[TrialRecord],
    now: float,
    prior: Sequence[Observation] = (),
    compute_left: int | None = None,
    ahead: Sequence[AheadPoint] | None = None,
) -> AdvancePlan:
    """Decide the job's next step from what the store holds; ``prior`` holds the completed
    trials of the jobs it warm-starts from, ``compute_left`` the trial-epochs its tenant may
    still use today (None: no limit), ``ahead`` the points a refill made ahead (None: the
    caller sends no refills, so surrogate points are computed here)."""
    spec = job.spec
    in_flight = [t for t in trials if not t.state.is_finished]
    unsent = tuple(
        t.number for t in in_flight if t.state == TrialState.QUEUED and t.dispatched_at is None
    )
    slots = free_slots(job, trials, now, compute_left)
    observed = observations(trials, spec.training.objective.metric)
    pending = [t.params for t in in_flight]
    suggested: list[dict[str, Any]] = []
    drop, batch, refill = 0, "", False
    if ahead is not None and uses_lookahead(spec):
        search = _bayesian(spec)
        remaining = _remaining(job, trials, now, compute_left)
        parallelism = spec.search.parallelism
        created = [t.params for t in sorted(trials, key=lambda t: t.number)]
        taken = take(
            search, observed, pending, slots, remaining, ahead, parallelism, prior, created
        )
        suggested, drop, batch, refill = taken.points, taken.drop, taken.batch, taken.refill
    elif slots > 0:
        suggested = make_suggester(spec).suggest(observed, pending, slots, prior=prior)
    points = tuple(_active(spec, p) for p in suggested)
    if points or unsent:
        return AdvancePlan(points, unsent, drop_ahead=drop, ahead_batch=batch, refill=refill)
    if _remaining(job, trials, now, compute_left) > 0 or in_flight:
        return AdvancePlan(drop_ahead=drop, ahead_batch=batch, refill=refill)
    reason = None
    if len(trials) < job.max_trials:
        reason = OUT_OF_TIME if _out_of_time(job, now) else OUT_OF_BUDGET
    return AdvancePlan(finalize=True, stop_reason=reason)


def advance_job(
    store: EngineStore,
    job_id: str,
    *,
    finalize_lease_s: float,
    send_trial: SendTrial,
    daily_compute: int = 0,
    send_refill: SendRefill | None = None,
) -> Advance:
    """Plan and apply the job's next step while holding its lock (so that two advances never
    send the same new trial). Finalization is claimed under a lease before it is reported due.
    ``daily_compute`` is what a tenant may use a day, in trial-epochs (0: no limit). With
    ``send_refill``, a parallel Bayesian job takes points made ahead and asks for refills
    through it (``worker.engine.lookahead``); without, its points are computed here.

    Raises:
        JobNotFound: the job is gone.
    """
    with store.locks.advance(job_id) as held:
        if not held:
            return Advance(busy=True)
        job = store.jobs.get(job_id)
        if job.status == JobStatus.STOPPING:  # cancelled, shipping its best: finalize now
            return Advance(finalize=store.jobs.claim_finalize(job_id, finalize_lease_s))
        if job.status.is_finished:
            return Advance()
        trials = store.trials.list(job_id)
        now = store.server_time()
        left = daily_compute - store.usage.today(job.tenant) if daily_compute else None
        wants_points = free_slots(job, trials, now, left) > 0
        lookahead = send_refill is not None and uses_lookahead(job.spec)
        prior = warm_start(store.trials, job.spec) if wants_points or lookahead else []
        ahead = store.ahead.peek(job_id) if lookahead else None
        plan = plan_advance(job, trials, now, prior, left, ahead)
        step = apply_advance(store, job, plan, finalize_lease_s, send_trial)
    if plan.refill and send_refill is not None:
        token = store.ahead.claim_refill(job_id, REFILL_LEASE_S)
        if token is not None:
            send_refill(token)
            step = dataclasses.replace(step, refill_sent=True)
    return step


def refill_job(store: EngineStore, job_id: str) -> int:
    """Compute the parallel Bayesian job's next batch of points from what the store holds now
    (without its lock: the batch replaces the stored one in one step) and store it; the
    number of points stored (0: nothing to do).

    Raises:
        JobNotFound: the job is gone.
    """
    job = store.jobs.get(job_id)
    if job.status.is_finished or job.status == JobStatus.STOPPING or not uses_lookahead(job.spec):
        return 0
    search = _bayesian(job.spec)
    trials = store.trials.list(job_id)
    finished = observations(trials)
    pending = [t.params for t in trials if not t.state.is_finished]
    batch = min(AHEAD_BATCHES * job.spec.search.parallelism, job.max_trials - len(trials))
    prior = warm_start(store.trials, job.spec)
    made = search.ask_ahead(finished, pending, batch, prior)
    points = [_active(job.spec, p) for p in made]  # as the trials store them
    stored = store.ahead.put(job_id, len(finished), len(trials), points)
    return len(points) if stored else 0


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
    store.ahead.drop(job.id, plan.ahead_batch, plan.drop_ahead)
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
    """The completed trials of the spec's earlier jobs that lie inside its search space, valued
    by this job's objective metric (a source may have optimised another; jobs that expired
    since are skipped; a trial stopped early has a partial value, not a model's)."""
    prior: list[Observation] = []
    if spec.search.strategy not in (Strategy.BAYESIAN, Strategy.BOHB):
        return prior  # only a model learns from them; random and grid points do not change
    metric = spec.training.objective.metric
    for job_id in spec.search.warm_start:
        try:
            earlier = trials.list(job_id)
        except JobNotFound:
            continue
        prior += [
            dataclasses.replace(observation(t, metric), value=value)
            for t in earlier
            if t.state == TrialState.COMPLETED
            # every trial measures every metric; a record without them has its own objective's
            and math.isfinite(value := t.metrics.get(metric, _or_nan(t.value)))
            and inside(spec.search_space, t.params)
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


def _remaining(
    job: JobRecord, trials: Sequence[TrialRecord], now: float, compute_left: int | None
) -> int:
    """Trials the job may still create: none out of time or out of compute."""
    if _out_of_time(job, now) or (compute_left is not None and compute_left <= 0):
        return 0
    return job.max_trials - len(trials)


def _bayesian(spec: JobSpec) -> BayesianSearch:
    """The search of a job that uses suggestions made ahead (always Bayesian)."""
    search = make_suggester(spec)
    assert isinstance(search, BayesianSearch)
    return search


def _active(spec: JobSpec, point: Mapping[str, Any]) -> dict[str, Any]:
    """A suggested point without the names inactive under the rest of its configuration."""
    family, task, hps = spec.model.family, spec.task, spec.hyperparameters
    return active_params(spec.resolved_fixed, point, family, task, hps)


def _out_of_time(job: JobRecord, now: float) -> bool:
    return job.deadline_at is not None and now > job.deadline_at


def observations(trials: Sequence[TrialRecord], metric: str = "") -> list[Observation]:
    """The finished trials as the search sees them, with their ``metric`` per epoch."""
    return [observation(t, metric) for t in trials if t.state.is_finished]


def observation(trial: TrialRecord, metric: str = "") -> Observation:
    value = trial.value if trial.state.has_value else None
    cancelled = trial.state == TrialState.CANCELLED
    curve = tuple(trial.history.get(metric, ())) if metric else ()
    complete = trial.state == TrialState.COMPLETED
    return Observation(trial.params, value, cancelled, curve, complete, trial.metrics)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value
