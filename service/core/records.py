"""Job and trial records as read from the store: immutable, with string enums.

A finished trial never changes; the store's scripts enforce it (see ``store.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class TrialState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"  # stopped early by the pruning rule; its partial value counts
    FAILED = "failed"
    DIVERGED = "diverged"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self not in (TrialState.QUEUED, TrialState.RUNNING)

    @property
    def has_value(self) -> bool:
        """Whether the trial's objective value informs the search."""
        return self in (TrialState.COMPLETED, TrialState.PRUNED)


@dataclass(frozen=True)
class TrialRecord:
    job_id: str
    number: int
    state: TrialState
    params: dict[str, Any]
    attempt: int = 0
    preemptions: int = 0
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    epochs: int = 0
    best_epoch: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    worker: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    lease_deadline: float | None = None
    dispatched_at: float | None = None


@dataclass(frozen=True)
class JobRecord:
    id: str
    tenant: str
    name: str
    status: JobStatus
    spec: dict[str, Any]
    max_trials: int
    task: str = "classification"  # of its dataset, so views need not look the dataset up
    trials_created: int = 0
    trials_finished: int = 0
    best_trial: int | None = None
    best_value: float | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    stop_reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    deadline_at: float | None = None
    advances: int = 0  # scheduling steps run, and the seconds they took in all
    advance_seconds: float = 0.0
    status_history: list[dict[str, Any]] = field(default_factory=list)
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    # With a callback URL: {url, status (waiting|pending|delivered|failed), attempts,
    # last_error, delivered_at}.
    webhook: dict[str, Any] | None = None
