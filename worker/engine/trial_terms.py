"""The words a trial's run is described in: the deployment's rules for running trials, what
one delivery did, and why a running trial stops (``runner`` uses them; the task layer reads
them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class TrialPolicy:
    """The deployment's rules for running trials (from the settings)."""

    lease_s: float = 60.0
    max_attempts: int = 3
    max_trial_time_s: float = 3 * 3600
    max_model_params: int = 50_000_000  # a declared model's configuration over it fails


class Execution(StrEnum):
    """What one delivery of a trial did."""

    RAN = "ran"  # claimed, trained and recorded
    BUSY = "busy"  # another delivery holds a live lease on it: come back after the lease
    LOST = "lost"  # its lease was taken over while it ran: the result was discarded
    PREEMPTED = "preempted"  # this worker is shutting down: handed back, to be sent again
    SKIPPED = "skipped"  # nothing to run: finished, out of attempts, out of time, or gone


class StopReason(StrEnum):
    LOST = "lost"  # another worker owns the trial now: write nothing
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    PREEMPTED = "preempted"
    PRUNED = "pruned"
