"""An in-memory job store that keeps the store's contract, for unit tests of the engine.

It implements the Protocols in ``service.core.store.protocols`` (plus ``create`` and ``cancel``,
which tests use to set a job up), on the same rules as the Redis scripts: trials never beyond the
budget nor after the job finished, claims under a lease, one finish per trial by the holder of
its lease, the best updated with the finish, finished jobs and trials frozen. The contract suite
(``tests/integration/test_store_contract.py``) runs against it as well as against Redis, so the
two cannot drift apart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from service.core.records import (
    ACTIVE,
    JobRecord,
    JobStatus,
    StatusChange,
    TrialRecord,
    TrialState,
    WebhookState,
    WebhookStatus,
)
from service.core.spec import JobSpec
from service.core.store import Claim, ClaimOutcome, JobNotFound, LeaseState, TrialOutcome
from service.core.store.ahead import AheadPoint


class Clock:
    """The store's clock; a test may move it (``advance``) instead of sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class MemoryJobs:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.records: dict[str, JobRecord] = {}
        self.finalize_until: dict[str, float] = {}
        self.directions: dict[str, str] = {}
        self.trials: MemoryTrials | None = None  # set by MemoryStore
        self.ahead: MemoryAhead | None = None  # set by MemoryStore

    def create(self, tenant: str, spec: JobSpec) -> str:
        job_id, now = uuid.uuid4().hex, self.clock.now()
        self.records[job_id] = JobRecord(
            id=job_id,
            tenant=tenant,
            name=spec.name,
            status=JobStatus.QUEUED,
            spec=spec,
            max_trials=spec.search.max_trials,
            deadline_at=now + spec.search.max_duration_s if spec.search.max_duration_s else None,
            status_history=(StatusChange(JobStatus.QUEUED, now),),
            created_at=now,
            webhook=WebhookState(spec.callback_url, WebhookStatus.WAITING)
            if spec.callback_url
            else None,
        )
        return job_id

    def get(self, job_id: str) -> JobRecord:
        try:
            return self.records[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    def update(self, job_id: str, **changes: Any) -> JobRecord:
        record = self.records[job_id] = dataclasses.replace(self.get(job_id), **changes)
        return record

    def active_ids(self) -> list[str]:
        return sorted(j for j, r in self.records.items() if not r.status.is_finished)

    def log_status(self, job_id: str, status: JobStatus, **changes: Any) -> None:
        job, now = self.get(job_id), self.clock.now()
        history = (*job.status_history, StatusChange(status, now))
        if status.is_finished:
            changes["finished_at"] = now
        self.update(job_id, status=status, status_history=history, **changes)
        if status.is_finished and self.ahead is not None:  # as the Redis store's expiry
            self.ahead.points.pop(job_id, None)
        if status.is_finished and job.webhook is not None:
            self.update(
                job_id, webhook=dataclasses.replace(job.webhook, status=WebhookStatus.PENDING)
            )

    def set_status(
        self,
        job_id: str,
        status: JobStatus,
        allowed_from: tuple[JobStatus, ...],
        *,
        error: str | None = None,
        summary: Mapping[str, Any] | None = None,
        test_metrics: Mapping[str, float] | None = None,
        model_bytes: int | None = None,
        best: tuple[int, float] | None = None,
    ) -> bool:
        if self.get(job_id).status not in allowed_from:
            return False
        changes: dict[str, Any] = {}
        if error is not None:
            changes["error"] = error
        if summary is not None:
            changes["summary"] = MappingProxyType(dict(summary))
        if test_metrics is not None:
            changes["test_metrics"] = MappingProxyType(dict(test_metrics))
        if best is not None:
            changes["best_trial"], changes["best_value"] = best
        self.log_status(job_id, status, **changes)
        return True

    def set_stop_reason(self, job_id: str, reason: str) -> None:
        self.update(job_id, stop_reason=reason)

    def renew_finalize(self, job_id: str, lease_s: float) -> bool:
        now = self.clock.now()
        if self.finalize_until.get(job_id, 0.0) <= now:
            return False
        self.finalize_until[job_id] = now + lease_s
        return True

    def release_finalize(self, job_id: str) -> None:
        if self.get(job_id).status.is_finished:
            self.finalize_until.pop(job_id, None)

    def claim_finalize(self, job_id: str, lease_s: float) -> bool:
        now = self.clock.now()
        if self.finalize_until.get(job_id, 0.0) > now:
            return False
        self.finalize_until[job_id] = now + lease_s
        return True

    def cancel(
        self, job_id: str, reason: str = "cancelled by the client", *, refit: bool = False
    ) -> JobStatus:
        job = self.get(job_id)
        ship = refit and job.best_trial is not None
        if job.status.is_finished or (job.status == JobStatus.STOPPING and ship):
            return job.status
        assert self.trials is not None
        for trial in self.trials.list(job_id):
            if trial.state == TrialState.QUEUED:
                self.trials.settle(trial, TrialState.CANCELLED, reason)
        status = JobStatus.STOPPING if ship else JobStatus.CANCELLED
        self.log_status(job_id, status, stop_reason=reason)
        return status

    def statuses(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        return {j: self.records[j].status for j in job_ids if j in self.records}


class MemoryTrials:
    def __init__(self, clock: Clock, jobs: MemoryJobs, usage: MemoryUsage | None = None) -> None:
        self.clock = clock
        self.jobs = jobs
        self.usage = usage or MemoryUsage()
        self.records: dict[tuple[str, int], TrialRecord] = {}
        self.tokens: dict[tuple[str, int], str] = {}

    def add(self, job_id: str, params: Sequence[Mapping[str, Any]]) -> list[int]:
        job = self.jobs.get(job_id)
        if job.status not in ACTIVE:
            return []
        numbers = []
        for point in params:
            number = self.jobs.get(job_id).trials_created
            if number >= job.max_trials:
                break
            self.records[(job_id, number)] = TrialRecord(
                job_id=job_id,
                number=number,
                state=TrialState.QUEUED,
                params=MappingProxyType(dict(point)),
                created_at=self.clock.now(),
            )
            self.jobs.update(job_id, trials_created=number + 1)
            numbers.append(number)
        return numbers

    def get(self, job_id: str, number: int) -> TrialRecord | None:
        return self.records.get((job_id, number))

    def list(self, job_id: str) -> list[TrialRecord]:
        created = self.jobs.get(job_id).trials_created
        return [t for n in range(created) if (t := self.records.get((job_id, n))) is not None]

    def put(self, trial: TrialRecord, **changes: Any) -> TrialRecord:
        record = self.records[(trial.job_id, trial.number)] = dataclasses.replace(trial, **changes)
        return record

    def mark_dispatched(self, job_id: str, number: int) -> None:
        trial = self.records.get((job_id, number))
        if trial is not None and trial.state == TrialState.QUEUED:
            self.put(trial, dispatched_at=self.clock.now())

    def settle(self, trial: TrialRecord, state: TrialState, error: str) -> None:
        """Finish a trial nobody holds (out of attempts, out of time, cancelled)."""
        self.put(trial, state=state, error=error, finished_at=self.clock.now(), lease_deadline=0.0)
        job = self.jobs.get(trial.job_id)
        self.jobs.update(trial.job_id, trials_finished=job.trials_finished + 1)

    def claim(
        self, job_id: str, number: int, worker: str, lease_s: float, max_attempts: int = 3
    ) -> Claim:
        token, now = secrets.token_hex(16), self.clock.now()
        trial = self.records.get((job_id, number))
        if trial is None:
            return Claim(ClaimOutcome.MISSING, 0, token)
        job = self.jobs.get(job_id)
        if job.status not in ACTIVE:
            return Claim(ClaimOutcome.JOB_FINISHED, 0, token)
        if trial.state == TrialState.RUNNING:
            if (trial.lease_deadline or 0.0) > now:
                return Claim(ClaimOutcome.LEASED, trial.attempt, token)
            if trial.attempt >= max_attempts:
                self.settle(
                    trial, TrialState.FAILED, f"worker lost on each of {trial.attempt} attempts"
                )
                return Claim(ClaimOutcome.EXHAUSTED, trial.attempt, token)
        elif trial.state != TrialState.QUEUED:
            return Claim(ClaimOutcome.FINISHED, trial.attempt, token)
        elif job.deadline_at is not None and now > job.deadline_at:
            self.settle(trial, TrialState.CANCELLED, "job max_duration_s reached first")
            return Claim(ClaimOutcome.EXPIRED, trial.attempt, token)
        trial = self.put(
            trial,
            state=TrialState.RUNNING,
            attempt=trial.attempt + 1,
            lease_deadline=now + lease_s,
            worker=worker,
            started_at=now,
        )
        self.tokens[(job_id, number)] = token
        if job.status == JobStatus.QUEUED:
            self.jobs.log_status(job_id, JobStatus.RUNNING, started_at=now)
        return Claim(ClaimOutcome.CLAIMED, trial.attempt, token)

    def _held(self, job_id: str, number: int, token: str) -> TrialRecord | None:
        trial = self.records.get((job_id, number))
        if trial is None or trial.state != TrialState.RUNNING:
            return None
        return trial if self.tokens.get((job_id, number)) == token else None

    def renew(
        self,
        job_id: str,
        number: int,
        token: str,
        lease_s: float,
        *,
        epochs: int | None = None,
        history: Mapping[str, Sequence[float]] | None = None,
    ) -> LeaseState:
        trial = self._held(job_id, number, token)
        if trial is None:
            return LeaseState.LOST
        changes: dict[str, Any] = {"lease_deadline": self.clock.now() + lease_s}
        if epochs is not None:
            changes["epochs"] = epochs
        if history is not None:
            changes["history"] = MappingProxyType({k: tuple(v) for k, v in history.items()})
        self.put(trial, **changes)
        cancelled = self.jobs.get(job_id).status in (JobStatus.CANCELLED, JobStatus.STOPPING)
        return LeaseState.CANCELLED if cancelled else LeaseState.HELD

    def release(self, job_id: str, number: int, token: str) -> bool:
        trial = self._held(job_id, number, token)
        if trial is None:
            return False
        self.put(
            trial,
            state=TrialState.QUEUED,
            lease_deadline=0.0,
            attempt=trial.attempt - 1,
            preemptions=trial.preemptions + 1,
        )
        self.tokens.pop((job_id, number), None)
        return True

    def finish(self, job_id: str, number: int, token: str, outcome: TrialOutcome) -> bool:
        trial = self._held(job_id, number, token)
        if trial is None:
            return False
        self.put(
            trial,
            state=outcome.state,
            finished_at=self.clock.now(),
            lease_deadline=0.0,
            value=outcome.value,
            metrics=MappingProxyType(dict(outcome.metrics or {})),
            history=MappingProxyType({k: tuple(v) for k, v in (outcome.history or {}).items()}),
            epochs=outcome.epochs,
            best_epoch=outcome.best_epoch,
            details=MappingProxyType(dict(outcome.details or {})),
            error=outcome.error,
        )
        job = self.jobs.get(job_id)
        self.usage.used[job.tenant] = self.usage.today(job.tenant) + outcome.epochs
        changes: dict[str, Any] = {"trials_finished": job.trials_finished + 1}
        value = outcome.value
        if value is not None and outcome.state == TrialState.COMPLETED and job.status in ACTIVE:
            best, direction = job.best_value, job.spec.training.objective.direction
            if best is None or (value > best if direction == "max" else value < best):
                changes.update(best_value=value, best_trial=number)
        self.jobs.update(job_id, **changes)
        return True


class MemoryUsage:
    """Trial-epochs per tenant (today only: the tests' days do not end)."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def today(self, tenant: str) -> int:
        return self.used.get(tenant, 0)


class MemoryLocks:
    def __init__(self) -> None:
        self.held: set[str] = set()

    @contextlib.contextmanager
    def advance(self, job_id: str, ttl_s: float = 30.0) -> Iterator[bool]:
        acquired = job_id not in self.held
        self.held.add(job_id)
        try:
            yield acquired
        finally:
            if acquired:
                self.held.discard(job_id)


class MemoryWebhooks:
    def __init__(self, jobs: MemoryJobs) -> None:
        self.jobs = jobs
        self.locked: set[str] = set()
        self.attempts: list[tuple[str, str | None]] = []

    def lock(self, job_id: str, ttl_s: int) -> bool:
        if job_id in self.locked:
            return False
        self.locked.add(job_id)
        return True

    def release_lock(self, job_id: str) -> None:
        self.locked.discard(job_id)

    def record(
        self, job_id: str, error: str | None, max_attempts: int, retry_in_s: float
    ) -> WebhookStatus:
        job = self.jobs.get(job_id)
        assert job.webhook is not None
        attempts = job.webhook.attempts + 1
        self.attempts.append((job_id, error))
        status = WebhookStatus.PENDING
        if error is None:
            status = WebhookStatus.DELIVERED
        elif attempts >= max_attempts:
            status = WebhookStatus.FAILED
        webhook = dataclasses.replace(
            job.webhook,
            status=status,
            attempts=attempts,
            last_error=error or job.webhook.last_error,
        )
        self.jobs.update(job_id, webhook=webhook)
        self.locked.discard(job_id)
        return status


class MemoryModels:
    def __init__(self) -> None:
        self.saved: dict[str, bytes] = {}

    def save(self, job_id: str, data: bytes) -> None:
        self.saved[job_id] = data

    def delete(self, job_id: str) -> None:
        self.saved.pop(job_id, None)


class MemoryDatasets:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def data(self, dataset_id: str) -> bytes | None:
        return self.blobs.get(dataset_id)


class MemoryAhead:
    """Suggestions made ahead, and the one refill lock per job (no expiry: tests release it)."""

    def __init__(self, jobs: MemoryJobs) -> None:
        self.jobs = jobs
        self.points: dict[str, list[AheadPoint]] = {}
        self.refills: dict[str, str] = {}

    def put(
        self, job_id: str, basis: int, created: int, points: Sequence[Mapping[str, Any]]
    ) -> bool:
        self.points.pop(job_id, None)
        if self.jobs.get(job_id).status not in ACTIVE:
            return False
        batch = secrets.token_hex(6)
        self.points[job_id] = [AheadPoint(batch, basis, created, dict(p)) for p in points]
        return True

    def peek(self, job_id: str) -> list[AheadPoint]:
        return list(self.points.get(job_id, []))

    def drop(self, job_id: str, batch: str, count: int) -> None:
        held = self.points.get(job_id, [])
        if held and held[0].batch == batch:
            self.points[job_id] = held[count:]

    def claim_refill(self, job_id: str, ttl_s: float) -> str | None:
        if job_id in self.refills:
            return None
        self.refills[job_id] = token = secrets.token_hex(8)
        return token

    def release_refill(self, job_id: str, token: str) -> None:
        if self.refills.get(job_id) == token:
            del self.refills[job_id]


class MemoryStore:
    """The engine's view of the store, in memory."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.jobs = MemoryJobs(self.clock)
        self.usage = MemoryUsage()
        self.trials = MemoryTrials(self.clock, self.jobs, self.usage)
        self.jobs.trials = self.trials
        self.locks = MemoryLocks()
        self.ahead = self.jobs.ahead = MemoryAhead(self.jobs)
        self.webhooks = MemoryWebhooks(self.jobs)
        self.models = MemoryModels()
        self.datasets = MemoryDatasets()

    def server_time(self) -> float:
        return self.clock.now()
