"""Trials and their leases: created with fixed params, claimed under a lease, finished once.

A trial moves queued -> running (``claim``) -> a finished state (``finish``). Whoever holds the
current lease token owns a running trial: only they renew it, hand it back (``release``) or
finish it, and a holder whose lease was taken over writes nothing. See the package docstring.
"""

from __future__ import annotations

import enum
import json
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from service.core import keys
from service.core.records import TrialRecord, TrialState
from service.core.store import scripts
from service.core.store.codec import decode_trial, dumps
from service.core.store.connection import Connection
from service.core.store.errors import JobNotFound
from service.core.store.events import RedisEvents
from service.core.store.stats import RedisStats
from service.core.store.usage import RedisUsage


class ClaimOutcome(StrEnum):
    """What trying to take a trial found."""

    CLAIMED = "claimed"  # the caller now runs it
    LEASED = "leased"  # someone holds a live lease on it
    FINISHED = "finished"
    MISSING = "missing"
    JOB_FINISHED = "job_finished"
    EXHAUSTED = "exhausted"  # a lost worker's trial out of attempts: now failed
    EXPIRED = "expired"  # the job's max_duration_s passed before it started: now cancelled


class LeaseState(enum.IntEnum):
    """What a lease renewal found."""

    LOST = 0  # another worker took the trial over, or it was finished: stop, write nothing
    HELD = 1
    CANCELLED = 2  # still held, but the job was cancelled: stop and record the trial cancelled


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int
    token: str

    @property
    def claimed(self) -> bool:
        return self.outcome == ClaimOutcome.CLAIMED


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished trial reports: its state, objective value and what it measured."""

    state: TrialState
    value: float | None = None
    metrics: Mapping[str, float] | None = None
    history: Mapping[str, Sequence[float]] | None = None
    epochs: int = 0
    best_epoch: int | None = None
    error: str | None = None
    details: Mapping[str, Any] | None = None  # diagnosis, per-fold scores, range-test curve


class RedisTrials:
    def __init__(
        self, conn: Connection, events: RedisEvents, stats: RedisStats, usage: RedisUsage
    ) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._events = events
        self._stats = stats
        self._usage = usage

    def add(self, job_id: str, params: Sequence[Mapping[str, Any]]) -> list[int]:
        """Record new queued trials with their params fixed; returns their numbers (fewer than
        asked, or none, once the budget is spent or the job finished)."""
        if not params:
            return []
        encoded = [json.dumps(dict(p), separators=(",", ":"), sort_keys=True) for p in params]
        numbers = self._conn.script(scripts.ADD_TRIALS)(
            keys=[keys.job(job_id)], args=[keys.trial_prefix(job_id), *encoded]
        )
        return [int(n) for n in numbers]

    def get(self, job_id: str, number: int) -> TrialRecord | None:
        raw = self._redis.hgetall(keys.trial(job_id, number))
        return decode_trial(job_id, raw) if raw else None

    def list(self, job_id: str) -> list[TrialRecord]:
        """Every trial of the job in number order.

        Raises:
            JobNotFound: the job does not exist (or expired).
        """
        created = self._redis.hget(keys.job(job_id), "trials_created")
        if created is None:
            raise JobNotFound(job_id)
        pipe = self._redis.pipeline(transaction=False)
        for n in range(int(created)):
            pipe.hgetall(keys.trial(job_id, n))
        return [decode_trial(job_id, raw) for raw in pipe.execute() if raw]

    def mark_dispatched(self, job_id: str, number: int) -> None:
        """Note that a queued trial's message was sent (the sweep re-sends stale ones)."""
        self._conn.script(scripts.MARK_DISPATCHED)(keys=[keys.trial(job_id, number)])

    def claim(
        self, job_id: str, number: int, worker: str, lease_s: float, max_attempts: int = 3
    ) -> Claim:
        """Take a queued trial (or one whose lease expired) for the calling worker.

        Taking over an expired lease counts an attempt; after ``max_attempts`` the trial is
        marked failed instead (``EXHAUSTED``).
        """
        token = secrets.token_hex(16)
        outcome, attempt = self._conn.script(scripts.CLAIM_TRIAL)(
            keys=[
                keys.trial(job_id, number),
                keys.job(job_id),
                keys.status_log(job_id),
                keys.leases(),
            ],
            args=[token, lease_s, worker, max_attempts],
        )
        claim = Claim(outcome=ClaimOutcome(outcome), attempt=int(attempt), token=token)
        if claim.claimed:
            self._events.emit(
                job_id, "trial_started", trial=number, attempt=claim.attempt, worker=worker
            )
        return claim

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
        """Extend the lease if ``token`` still holds it, recording progress with it."""
        fields: list[str] = []
        if epochs is not None:
            fields += ["epochs", str(epochs)]
        if history is not None:
            fields += ["history", dumps({k: list(v) for k, v in history.items()})]
        result = self._conn.script(scripts.RENEW_LEASE)(
            keys=[keys.trial(job_id, number), keys.job(job_id), keys.leases()],
            args=[token, lease_s, *fields],
        )
        state = LeaseState(int(result))
        if state == LeaseState.HELD and epochs is not None:
            last = {name: values[-1] for name, values in (history or {}).items() if values}
            self._events.emit(job_id, "epoch", trial=number, epoch=epochs, metrics=last)
        return state

    def release(self, job_id: str, number: int, token: str) -> bool:
        """Put a running trial back in the queue (its worker is shutting down); a preemption
        does not count as an attempt."""
        released = self._conn.script(scripts.RELEASE_TRIAL)(
            keys=[keys.trial(job_id, number), keys.leases()], args=[token]
        )
        return bool(released)

    def finish(self, job_id: str, number: int, token: str, outcome: TrialOutcome) -> bool:
        """Finish the trial exactly once, updating the job's best in the same step; False if it
        was finished already or its lease was taken over."""
        fields: dict[str, str] = {
            "metrics": dumps(dict(outcome.metrics or {})),
            "history": dumps({k: list(v) for k, v in (outcome.history or {}).items()}),
            "epochs": str(outcome.epochs),
        }
        if outcome.best_epoch is not None:
            fields["best_epoch"] = str(outcome.best_epoch)
        if outcome.details:
            fields["details"] = dumps(dict(outcome.details))
        if outcome.error:
            fields["error"] = outcome.error[:2000]
        value = "" if outcome.value is None else repr(float(outcome.value))
        flat = [item for pair in fields.items() for item in pair]
        finished = bool(
            self._conn.script(scripts.FINISH_TRIAL)(
                keys=[keys.trial(job_id, number), keys.job(job_id), keys.leases()],
                args=[token, outcome.state.value, value, *flat],
            )
        )
        if finished:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hmget(keys.trial(job_id, number), "started_at", "finished_at")
            pipe.hget(keys.job(job_id), "tenant")
            (started, ended), tenant = pipe.execute()
            seconds = float(ended) - float(started) if started and ended else None
            self._stats.count_trial(outcome.state, seconds)
            if tenant:
                self._usage.add(tenant, outcome.epochs)
            finite = outcome.value is not None and math.isfinite(outcome.value)
            self._events.emit(
                job_id,
                "trial_finished",
                trial=number,
                state=outcome.state.value,
                value=float(outcome.value) if finite else None,  # type: ignore[arg-type]
            )
        return finished
