"""Job, trial and dataset records as read from the store: immutable, with string enums.

Records hold typed values (the job's ``JobSpec``, not its JSON), read-only mappings and tuples:
a record handed to a view, a cache or the engine cannot be changed in place. A finished trial
never changes in the store either; its scripts enforce it (see ``service.core.store``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, field
from enum import StrEnum
from typing import Any

from service.core.catalog import DatasetInfo
from service.core.spec.types import EMPTY, JobSpec
from service.core.table_encoding import EncodingLimits, embedding_bound, encoded_width


def _empty() -> Mapping[str, Any]:
    return EMPTY


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    # Cancelled, and refitting the best trial so far before it ends as cancelled: no new
    # trial starts, running ones stop, the model and the summary are on their way.
    STOPPING = "stopping"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


# Where the search goes on: trials may be added, claimed and run.
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


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


class WebhookStatus(StrEnum):
    WAITING = "waiting"  # the job has not finished yet
    PENDING = "pending"  # due, or waiting out its backoff after a failed attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # every attempt failed


@dataclass(frozen=True)
class StatusChange:
    status: JobStatus
    at: float


@dataclass(frozen=True)
class WebhookState:
    """A job's callback URL and how its delivery stands."""

    url: str
    status: WebhookStatus
    attempts: int = 0
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass(frozen=True)
class TrialRecord:
    job_id: str
    number: int
    state: TrialState
    params: Mapping[str, Any]
    attempt: int = 0
    preemptions: int = 0
    value: float | None = None
    metrics: Mapping[str, float] = field(default_factory=_empty)
    history: Mapping[str, tuple[float, ...]] = field(default_factory=_empty)
    epochs: int = 0
    best_epoch: int | None = None
    details: Mapping[str, Any] = field(default_factory=_empty)  # diagnosis, folds, range test
    error: str | None = None
    worker: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    lease_deadline: float | None = None
    dispatched_at: float | None = None

    @property
    def folds(self) -> int:
        """How many folds trained it (1 without k-fold validation)."""
        return len(self.details.get("folds") or ()) or 1

    @property
    def epochs_per_fold(self) -> int:
        """Its epochs as a person counts them: ``epochs`` counts every fold's (the compute)."""
        return round(self.epochs / self.folds)


def trial_numbered(trials: Sequence[TrialRecord], number: int | None) -> TrialRecord | None:
    """The trial with this number (None if absent): lists skip trials whose record is gone,
    so a trial's position is not its number."""
    if number is None:
        return None
    return next((t for t in trials if t.number == number), None)


@dataclass(frozen=True)
class JobRecord:
    id: str
    tenant: str
    name: str
    status: JobStatus
    spec: JobSpec
    max_trials: int
    trials_created: int = 0
    trials_finished: int = 0
    best_trial: int | None = None
    best_value: float | None = None
    test_metrics: Mapping[str, float] = field(default_factory=_empty)
    error: str | None = None
    stop_reason: str | None = None
    summary: Mapping[str, Any] = field(default_factory=_empty)
    deadline_at: float | None = None
    advances: int = 0  # scheduling steps run, and the seconds they took in all
    advance_seconds: float = 0.0
    refills: int = 0  # batches of Bayesian suggestions made ahead, and their seconds in all
    refill_seconds: float = 0.0
    status_history: tuple[StatusChange, ...] = ()
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    webhook: WebhookState | None = None  # only with a callback URL
    model_bytes: int | None = None  # the stored model's size; None: no model is kept
    extensions: int = 0  # times it was reopened for more trials (POST .../extend)

    @property
    def render_version(self) -> str:
        """What a report, a plot or the importance of the job is drawn from: it changes with
        every finished trial, a new best, the job's status and each reopening."""
        return f"{self.status.value}.{self.trials_finished}.{self.best_trial}.{self.extensions}"

    @property
    def task(self) -> str:
        return self.spec.task


@dataclass(frozen=True)
class DatasetMeta:
    """What the API shows about an uploaded dataset, and what a job spec is checked against."""

    id: str
    task: str
    n_features: int
    n_classes: int | None
    classes: tuple[int | float | str, ...] | None
    image_shape: tuple[int, ...] | None
    columns: tuple[str, ...] | None
    splits: Mapping[str, int]
    min_class_count: int | None
    format: str
    size_bytes: int
    # a table read column by column: each column's description (``dataset_files.columns``)
    table: tuple[Mapping[str, Any], ...] | None = None
    encoding: Mapping[str, int] | None = None  # its ``table_encoding.EncodingLimits``

    @property
    def class_names(self) -> tuple[str, ...] | None:
        return None if self.classes is None else tuple(str(c) for c in self.classes)

    def info(self) -> DatasetInfo:
        inputs = tuple(
            (str(c["name"]), str(c["input"])) for c in self.table or () if c.get("input")
        )
        limits = EncodingLimits.from_dict(self.encoding)
        return DatasetInfo(
            name=self.id,
            task=self.task,
            n_features=encoded_width(self.table, limits) if self.table else self.n_features,
            n_classes=self.n_classes,
            n_samples=sum(self.splits.values()),
            image_shape=self.image_shape,
            has_validation=self.splits.get("val", 0) > 0,
            min_class_count=self.min_class_count,
            inputs=inputs,
            class_names=self.class_names,
            embedding=astuple(embedding_bound(self.table or (), limits)),
        )
