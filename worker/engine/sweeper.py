"""The periodic sweep: what recovery each active job needs.

A trial's lease expires when its worker died (or hangs without heartbeats); a queued trial's
message can be lost (a Redis restart without its append-only file, a crash between recording and
sending); a job can be left with nothing in flight (a lost ``advance`` or ``finalize``). The
sweep finds each case from the store alone and says what to send; sending the same thing twice
is harmless, since claims and finalization are leased. A ``stopping`` job (cancelled, shipping
its best) is advanced whatever its trials do: its finalization does not wait for them, and a
trial of a lost worker would never end, since a stopping job's trials are not run again.

``plan_sweep`` decides from the trials and the time alone; ``sweep_jobs`` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field

from service.core.records import JobStatus, TrialRecord, TrialState
from service.core.store import JobNotFound
from service.core.store.protocols import EngineStore

UNSENT_GRACE_S = 30.0


@dataclass
class SweepPlan:
    run_trials: list[tuple[str, int]] = field(default_factory=list)
    advance_jobs: list[str] = field(default_factory=list)


def plan_sweep(
    trials_by_job: Mapping[str, Sequence[TrialRecord]],
    now: float,
    requeue_after_s: float,
    stopping: Set[str] = frozenset(),
) -> SweepPlan:
    """Trials to send again (lease expired, or queued and never picked up) and jobs to advance
    (nothing in flight, or ``stopping``), for the active jobs and their trials."""
    plan = SweepPlan()
    for job_id, trials in trials_by_job.items():
        if job_id in stopping:
            plan.advance_jobs.append(job_id)
            continue
        in_flight = False
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                in_flight = True
                if (trial.lease_deadline or 0.0) < now:
                    plan.run_trials.append((job_id, trial.number))
            elif trial.state == TrialState.QUEUED:
                in_flight = True
                if _stale(trial, now, requeue_after_s):
                    plan.run_trials.append((job_id, trial.number))
        if not in_flight:
            plan.advance_jobs.append(job_id)
    return plan


def sweep_jobs(store: EngineStore, requeue_after_s: float) -> SweepPlan:
    """Read every active job's trials and plan their recovery."""
    now = store.server_time()
    trials_by_job: dict[str, Sequence[TrialRecord]] = {}
    active = store.jobs.active_ids()
    statuses = store.jobs.statuses(active)
    stopping = {job_id for job_id, status in statuses.items() if status == JobStatus.STOPPING}
    for job_id in active:
        try:
            trials_by_job[job_id] = store.trials.list(job_id)
        except JobNotFound:
            continue
    return plan_sweep(trials_by_job, now, requeue_after_s, stopping)


def _stale(trial: TrialRecord, now: float, requeue_after_s: float) -> bool:
    """A queued trial sent long ago, or recorded and never sent (past a grace period)."""
    if trial.dispatched_at:
        return now - trial.dispatched_at > requeue_after_s
    return now - (trial.created_at or now) > UNSENT_GRACE_S
