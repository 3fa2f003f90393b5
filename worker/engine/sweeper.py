"""The periodic sweep: what recovery each active job needs.

A trial's lease expires when its worker died (or hangs without heartbeats); a queued trial's
message can be lost (a Redis restart without its append-only file, a crash between recording and
sending); a job can be left with nothing in flight (a lost ``advance`` or ``finalize``). The
sweep finds each case from the store alone and says what to send; sending the same thing twice
is harmless, since claims and finalization are leased.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.core.records import TrialState
from service.core.store import JobNotFound, JobStore

UNSENT_GRACE_S = 30.0


@dataclass
class SweepPlan:
    run_trials: list[tuple[str, int]] = field(default_factory=list)
    advance_jobs: list[str] = field(default_factory=list)


def plan_sweep(store: JobStore, requeue_after_s: float) -> SweepPlan:
    plan = SweepPlan()
    now = store.server_time()
    for job_id in store.active_job_ids():
        try:
            trials = store.list_trials(job_id)
        except JobNotFound:
            continue
        in_flight = False
        for trial in trials:
            if trial.state == TrialState.RUNNING:
                in_flight = True
                if (trial.lease_deadline or 0.0) < now:
                    plan.run_trials.append((job_id, trial.number))
            elif trial.state == TrialState.QUEUED:
                in_flight = True
                sent = trial.dispatched_at
                stale = (
                    (now - sent > requeue_after_s)
                    if sent
                    else (now - (trial.created_at or now) > UNSENT_GRACE_S)
                )
                if stale:
                    plan.run_trials.append((job_id, trial.number))
        if not in_flight:
            plan.advance_jobs.append(job_id)
    return plan
