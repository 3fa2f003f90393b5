"""What the tuning engine needs from the store, as typed Protocols.

The scheduler, runner, sweeper and webhook delivery take an ``EngineStore``: the Redis store
satisfies it, and so does an in-memory one in the unit tests, so the engine's decisions are
tested without Redis while the integration tests keep the real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from service.core.records import JobRecord, JobStatus, TrialRecord, WebhookStatus
from service.core.store.ahead import AheadPoint
from service.core.store.trials import Claim, LeaseState, TrialOutcome


class Jobs(Protocol):
    def get(self, job_id: str) -> JobRecord: ...

    def active_ids(self) -> list[str]: ...

    def statuses(self, job_ids: Sequence[str]) -> dict[str, JobStatus]: ...

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
    ) -> bool: ...

    def set_stop_reason(self, job_id: str, reason: str) -> None: ...

    def claim_finalize(self, job_id: str, lease_s: float) -> bool: ...

    def release_finalize(self, job_id: str) -> None: ...

    def renew_finalize(self, job_id: str, lease_s: float) -> bool: ...


class Trials(Protocol):
    def add(self, job_id: str, params: Sequence[Mapping[str, Any]]) -> list[int]: ...

    def get(self, job_id: str, number: int) -> TrialRecord | None: ...

    def list(self, job_id: str) -> list[TrialRecord]: ...

    def mark_dispatched(self, job_id: str, number: int) -> None: ...

    def claim(
        self, job_id: str, number: int, worker: str, lease_s: float, max_attempts: int = 3
    ) -> Claim: ...

    def renew(
        self,
        job_id: str,
        number: int,
        token: str,
        lease_s: float,
        *,
        epochs: int | None = None,
        history: Mapping[str, Sequence[float]] | None = None,
    ) -> LeaseState: ...

    def release(self, job_id: str, number: int, token: str) -> bool: ...

    def finish(self, job_id: str, number: int, token: str, outcome: TrialOutcome) -> bool: ...


class Locks(Protocol):
    def advance(self, job_id: str, ttl_s: float = 30.0) -> AbstractContextManager[bool]: ...


class Ahead(Protocol):
    def put(
        self, job_id: str, basis: int, created: int, points: Sequence[Mapping[str, Any]]
    ) -> bool: ...

    def peek(self, job_id: str) -> list[AheadPoint]: ...

    def drop(self, job_id: str, batch: str, count: int) -> None: ...

    def claim_refill(self, job_id: str, ttl_s: float) -> str | None: ...

    def release_refill(self, job_id: str, token: str) -> None: ...


class Webhooks(Protocol):
    def lock(self, job_id: str, ttl_s: int) -> bool: ...

    def release_lock(self, job_id: str) -> None: ...

    def record(
        self, job_id: str, error: str | None, max_attempts: int, retry_in_s: float
    ) -> WebhookStatus: ...


class Models(Protocol):
    def save(self, job_id: str, data: bytes) -> None: ...

    def delete(self, job_id: str) -> None: ...


class Usage(Protocol):
    def today(self, tenant: str) -> int: ...


class DatasetData(Protocol):
    def data(self, dataset_id: str) -> bytes | None: ...


class EngineStore(Protocol):
    """The parts of the store the engine uses."""

    @property
    def jobs(self) -> Jobs: ...

    @property
    def trials(self) -> Trials: ...

    @property
    def locks(self) -> Locks: ...

    @property
    def ahead(self) -> Ahead: ...

    @property
    def webhooks(self) -> Webhooks: ...

    @property
    def models(self) -> Models: ...

    @property
    def datasets(self) -> DatasetData: ...

    @property
    def usage(self) -> Usage: ...

    def server_time(self) -> float: ...
