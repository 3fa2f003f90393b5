"""Deciding what a job does next: new trials, finalization, or nothing.

``advance_job`` is called after a job is submitted and after each trial finishes. It is safe to
call any number of times, concurrently or redelivered: it holds the job's lock while it reads the
stored trials, and the store refuses trials beyond the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.core.records import TrialRecord, TrialState
from service.core.spec import load_spec
from service.core.store import JobStore
from worker.engine.optimizer import Observation, make_suggester


@dataclass(frozen=True)
class Advance:
    """What the caller must do: dispatch these trials, finalize, or retry (lock busy)."""

    dispatch: list[int] = field(default_factory=list)
    finalize: bool = False
    busy: bool = False


def advance_job(store: JobStore, job_id: str) -> Advance:
    with store.advance_lock(job_id) as held:
        if not held:
            return Advance(busy=True)
        job = store.get_job(job_id)
        if job.status.is_finished:
            return Advance()
        spec = load_spec(job.spec)
        trials = store.list_trials(job_id)
        finished = [t for t in trials if t.state.is_finished]
        in_flight = [t for t in trials if not t.state.is_finished]
        remaining = job.max_trials - len(trials)
        slots = min(spec.search.parallelism - len(in_flight), remaining)
        if slots > 0:
            suggester = make_suggester(spec)
            points = suggester.suggest(
                [_observation(t) for t in finished], [t.params for t in in_flight], slots
            )
            return Advance(dispatch=store.add_trials(job_id, points))
        if remaining <= 0 and not in_flight and store.claim_finalize(job_id):
            return Advance(finalize=True)
        return Advance()


def _observation(trial: TrialRecord) -> Observation:
    value = trial.value if trial.state == TrialState.COMPLETED else None
    return Observation(params=trial.params, value=value)
