"""Deciding what a job does next: new trials, finalization, or nothing.

``advance_job`` is called after a job is submitted, after each trial finishes, and by the sweep.
It is safe to call any number of times, concurrently or redelivered: it holds the job's lock
while it reads the stored trials, the store refuses trials beyond the budget, and finalization
is claimed under a lease.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.core.datasets import load_job_spec
from service.core.records import TrialRecord, TrialState
from service.core.spec import Dimension, JobSpec
from service.core.store import JobNotFound, JobStore
from service.core.vocabulary import active_params
from worker.engine.optimizer import Observation, make_suggester

OUT_OF_TIME = "max_duration_s reached"


SendTrial = Callable[[int, "float | None"], None]
"""Sends trial ``n`` to the trials queue, with its time limit (seconds) if it has one."""


@dataclass(frozen=True)
class Advance:
    """What happened: trials sent, finalization due (the caller sends it), or lock busy."""

    dispatched: list[int] = field(default_factory=list)
    finalize: bool = False
    busy: bool = False


def advance_job(
    store: JobStore, job_id: str, *, finalize_lease_s: float, send_trial: SendTrial
) -> Advance:
    """Plan and send the job's next trials while holding its lock (so that two advances never
    send the same new trial), or claim its finalization once nothing is left to run."""
    with store.advance_lock(job_id) as held:
        if not held:
            return Advance(busy=True)
        job = store.get_job(job_id)
        if job.status.is_finished:
            return Advance()
        spec = load_job_spec(store, job)
        limit = spec.training.hard_time_limit_s or spec.training.time_limit_s
        trials = store.list_trials(job_id)
        finished = [t for t in trials if t.state.is_finished]
        in_flight = [t for t in trials if not t.state.is_finished]
        # trials recorded by an advance that died before sending them
        unsent = [
            t.number for t in in_flight if t.state == TrialState.QUEUED and t.dispatched_at is None
        ]
        out_of_time = job.deadline_at is not None and store.server_time() > job.deadline_at
        remaining = 0 if out_of_time else job.max_trials - len(trials)
        slots = min(spec.search.parallelism - len(in_flight), remaining)
        if slots > 0:
            suggester = make_suggester(spec)
            points = suggester.suggest(
                [_observation(t) for t in finished],
                [t.params for t in in_flight],
                slots,
                prior=warm_start(store, spec),
            )
            family, task = spec.model.family, spec.task
            points = [active_params(spec.fixed, p, family, task) for p in points]
            unsent += store.add_trials(job_id, points)
        for number in unsent:
            send_trial(number, limit)
            store.mark_dispatched(job_id, number)
        if unsent:
            return Advance(dispatched=unsent)
        if remaining <= 0 and not in_flight and store.claim_finalize(job_id, finalize_lease_s):
            if out_of_time and len(trials) < job.max_trials:
                store.set_fields(job_id, stop_reason=OUT_OF_TIME)
            return Advance(finalize=True)
        return Advance()


def warm_start(store: JobStore, spec: JobSpec) -> list[Observation]:
    """The scored trials of the spec's earlier jobs that lie inside its search space (jobs that
    expired since are skipped)."""
    prior: list[Observation] = []
    if spec.search.strategy != "bayesian":
        return prior  # only a model learns from them; random and grid points do not change
    for job_id in spec.search.warm_start:
        try:
            trials = store.list_trials(job_id)
        except JobNotFound:
            continue
        prior += [
            _observation(t)
            for t in trials
            if t.state.has_value and inside(spec.search_space, t.params)
        ]
    return prior


def inside(space: Mapping[str, Dimension], params: Mapping[str, Any]) -> bool:
    """Whether every searched value is in the space (an absent, inactive one is fine)."""
    if not set(params) <= set(space):
        return False
    for name, value in params.items():
        dim = space[name]
        if dim.type == "categorical":
            if value not in (dim.choices or ()):
                return False
        elif not (dim.low or 0) <= value <= (dim.high or 0):
            return False
    return True


def _observation(trial: TrialRecord) -> Observation:
    value = trial.value if trial.state.has_value else None
    return Observation(params=trial.params, value=value)
