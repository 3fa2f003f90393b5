"""The Redis job store: the one source of truth for jobs and trials.

What it promises:
- A job moves queued -> running -> succeeded | failed | cancelled; each change is atomic and
  logged with the Redis server's time. A finished job never changes status again.
- A trial is created with its params fixed (``add_trials``), never beyond the job's budget,
  moves queued -> running under a lease (``claim_trial``), and is finished exactly once by the
  holder of its current lease (``finish_trial``): a redelivered task or a worker whose lease was
  taken over gets ``False`` and writes nothing. Finished trials never change.
- The job's best trial is updated in the same atomic step that finishes a trial.
- Every method either completes or raises ``redis.RedisError``; callers decide whether to retry.
"""

from __future__ import annotations

import contextlib
import enum
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from service.core import keys, scripts
from service.core.records import JobRecord, JobStatus, TrialRecord, TrialState


class JobNotFound(KeyError):
    """No job with this id (or it expired)."""


class LeaseState(enum.IntEnum):
    """What a lease renewal found."""

    LOST = 0  # another worker took the trial over, or it was finished: stop, write nothing
    HELD = 1
    CANCELLED = 2  # still held, but the job was cancelled: stop and record the trial cancelled


@dataclass(frozen=True)
class Claim:
    """The outcome of trying to take a trial: ``claimed`` means the caller now runs it."""

    outcome: str
    attempt: int
    token: str

    @property
    def claimed(self) -> bool:
        return self.outcome == "claimed"


@dataclass(frozen=True)
class TrialOutcome:
    """What a finished trial reports: its state, objective value and what it measured."""

    state: TrialState
    value: float | None = None
    metrics: Mapping[str, float] | None = None
    history: Mapping[str, list[float]] | None = None
    epochs: int = 0
    best_epoch: int | None = None
    error: str | None = None
    details: Mapping[str, Any] | None = None  # diagnosis, per-fold scores, range-test curve


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A Redis client that fails fast instead of hanging when the server is away."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        health_check_interval=30,
    )


class JobStore:
    def __init__(self, client: redis.Redis, retention_s: int = 30 * 24 * 3600) -> None:
        self.redis = client
        self.retention_s = retention_s
        self._raw: redis.Redis | None = None
        self._add_trials = client.register_script(scripts.ADD_TRIALS)
        self._claim = client.register_script(scripts.CLAIM_TRIAL)
        self._renew = client.register_script(scripts.RENEW_LEASE)
        self._finish = client.register_script(scripts.FINISH_TRIAL)
        self._set_status = client.register_script(scripts.SET_STATUS)
        self._release = client.register_script(scripts.RELEASE_LOCK)
        self._release_trial = client.register_script(scripts.RELEASE_TRIAL)
        self._mark_dispatched = client.register_script(scripts.MARK_DISPATCHED)
        self._cancel = client.register_script(scripts.CANCEL_JOB)
        self._claim_finalize = client.register_script(scripts.CLAIM_FINALIZE)

    # ---- jobs

    def create_job(
        self,
        *,
        tenant: str,
        name: str,
        spec: Mapping[str, Any],
        max_trials: int,
        direction: str,
        max_duration_s: float | None = None,
    ) -> str:
        """Store a new queued job and return its id.

        With ``max_duration_s``, no trial starts later than that many seconds after creation.
        """
        job_id = uuid.uuid4().hex
        now = self.server_time()
        extra = {"deadline_at": f"{now + max_duration_s:.6f}"} if max_duration_s else {}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            keys.job(job_id),
            mapping={
                **extra,
                "id": job_id,
                "tenant": tenant,
                "name": name,
                "status": JobStatus.QUEUED.value,
                "spec": json.dumps(spec, separators=(",", ":")),
                "max_trials": max_trials,
                "direction": direction,
                "trials_created": 0,
                "trials_finished": 0,
                "created_at": f"{now:.6f}",
            },
        )
        pipe.rpush(keys.status_log(job_id), f"{JobStatus.QUEUED.value}@{now:.6f}")
        pipe.zadd(keys.tenant_jobs(tenant), {job_id: now})
        pipe.sadd(keys.active_jobs(), job_id)
        pipe.execute()
        return job_id

    def delete_job(self, job_id: str) -> None:
        """Remove a job and its trials (used when a new job could not be dispatched)."""
        raw = self.redis.hmget(keys.job(job_id), ["tenant", "trials_created"])
        tenant, created = raw[0], int(raw[1] or 0)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.job(job_id), keys.status_log(job_id), keys.job_lock(job_id))
        pipe.delete(*[keys.trial(job_id, n) for n in range(created)] or [keys.trial(job_id, 0)])
        if tenant:
            pipe.zrem(keys.tenant_jobs(tenant), job_id)
        pipe.srem(keys.active_jobs(), job_id)
        pipe.execute()

    def get_job(self, job_id: str) -> JobRecord:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.job(job_id))
        pipe.lrange(keys.status_log(job_id), 0, -1)
        raw, log = pipe.execute()
        if not raw:
            raise JobNotFound(job_id)
        return JobRecord(
            id=raw["id"],
            tenant=raw["tenant"],
            name=raw["name"],
            status=JobStatus(raw["status"]),
            spec=json.loads(raw["spec"]),
            max_trials=int(raw["max_trials"]),
            trials_created=int(raw.get("trials_created", 0)),
            trials_finished=int(raw.get("trials_finished", 0)),
            best_trial=_int(raw.get("best_trial")),
            best_value=_float(raw.get("best_value")),
            test_metrics=json.loads(raw.get("test_metrics") or "{}"),
            error=raw.get("error") or None,
            stop_reason=raw.get("stop_reason") or None,
            summary=json.loads(raw.get("summary") or "{}"),
            deadline_at=_float(raw.get("deadline_at")),
            advances=int(raw.get("advances") or 0),
            advance_seconds=float(raw.get("advance_seconds") or 0.0),
            status_history=[_log_entry(entry) for entry in log],
            created_at=_float(raw.get("created_at")),
            started_at=_float(raw.get("started_at")),
            finished_at=_float(raw.get("finished_at")),
        )

    def set_status(
        self,
        job_id: str,
        status: JobStatus,
        allowed_from: tuple[JobStatus, ...],
        **fields: str,
    ) -> bool:
        """Move the job to ``status`` if it is in one of ``allowed_from``; True if it moved.

        A finished status also starts the retention clock on the job and its trials.
        """
        flat = [item for pair in fields.items() for item in pair]
        moved = bool(
            self._set_status(
                keys=[keys.job(job_id), keys.status_log(job_id), keys.active_jobs()],
                args=[status.value, ",".join(s.value for s in allowed_from), *flat],
            )
        )
        if moved and status.is_finished:
            self._expire_job(job_id)
        return moved

    def set_fields(self, job_id: str, **fields: str) -> None:
        self.redis.hset(keys.job(job_id), mapping=fields)

    def record_advance(self, job_id: str, seconds: float) -> None:
        """Account one scheduling step (for the job's scheduling statistics)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(keys.job(job_id), "advances", 1)
        pipe.hincrbyfloat(keys.job(job_id), "advance_seconds", seconds)
        pipe.execute()

    def claim_finalize(self, job_id: str, lease_s: float) -> bool:
        """True for one caller per ``lease_s``: the one that runs the job's finalization."""
        return bool(self._claim_finalize(keys=[keys.job(job_id)], args=[lease_s]))

    def cancel_job(self, job_id: str, reason: str = "cancelled by the client") -> JobStatus:
        """Cancel an active job (idempotent); returns the job's status afterwards."""
        status = self._cancel(
            keys=[keys.job(job_id), keys.status_log(job_id), keys.active_jobs()],
            args=[keys.trial_prefix(job_id), reason],
        )
        if status == JobStatus.CANCELLED.value:
            self._expire_job(job_id)
        return JobStatus(status)

    def active_job_ids(self) -> list[str]:
        """Jobs not yet finished, for the sweep."""
        return sorted(self.redis.smembers(keys.active_jobs()))

    def server_time(self) -> float:
        """The Redis server's clock, the one leases are measured against."""
        seconds, micros = self.redis.time()
        return float(seconds) + micros / 1e6

    def save_model(self, job_id: str, data: bytes) -> None:
        """Keep the refit model for download (before the job's status turns finished, so the
        retention clock then covers it too)."""
        self._binary().set(keys.job_model(job_id), data)

    def get_model(self, job_id: str) -> bytes | None:
        value = self._binary().get(keys.job_model(job_id))
        return bytes(value) if value is not None else None

    def _binary(self) -> redis.Redis:
        """A client on the same server that leaves values as bytes (the main one decodes)."""
        if self._raw is None:
            pool = self.redis.connection_pool
            kwargs = {**pool.connection_kwargs, "decode_responses": False}
            self._raw = redis.Redis(
                connection_pool=redis.ConnectionPool(
                    connection_class=pool.connection_class, **kwargs
                )
            )
        return self._raw

    def _expire_job(self, job_id: str) -> None:
        created = int(self.redis.hget(keys.job(job_id), "trials_created") or 0)
        pipe = self.redis.pipeline(transaction=False)
        for key in (keys.job(job_id), keys.status_log(job_id), keys.job_model(job_id)):
            pipe.expire(key, self.retention_s)
        for n in range(created):
            pipe.expire(keys.trial(job_id, n), self.retention_s)
        pipe.execute()

    # ---- trials

    def add_trials(self, job_id: str, params: list[Mapping[str, Any]]) -> list[int]:
        """Record new queued trials with their params fixed; returns their numbers."""
        if not params:
            return []
        encoded = [json.dumps(p, separators=(",", ":"), sort_keys=True) for p in params]
        numbers = self._add_trials(
            keys=[keys.job(job_id)], args=[keys.trial_prefix(job_id), *encoded]
        )
        return [int(n) for n in numbers]

    def get_trial(self, job_id: str, number: int) -> TrialRecord | None:
        raw = self.redis.hgetall(keys.trial(job_id, number))
        return _trial(job_id, raw) if raw else None

    def list_trials(self, job_id: str) -> list[TrialRecord]:
        created = self.redis.hget(keys.job(job_id), "trials_created")
        if created is None:
            raise JobNotFound(job_id)
        pipe = self.redis.pipeline(transaction=False)
        for n in range(int(created)):
            pipe.hgetall(keys.trial(job_id, n))
        return [_trial(job_id, raw) for raw in pipe.execute() if raw]

    def mark_dispatched(self, job_id: str, number: int) -> None:
        self._mark_dispatched(keys=[keys.trial(job_id, number)])

    def claim_trial(
        self, job_id: str, number: int, worker: str, lease_s: float, max_attempts: int = 3
    ) -> Claim:
        """Take a queued trial (or one whose lease expired) for the calling worker.

        Taking over an expired lease counts an attempt; after ``max_attempts`` the trial is
        marked failed instead (outcome ``exhausted``).
        """
        token = secrets.token_hex(16)
        outcome, attempt = self._claim(
            keys=[keys.trial(job_id, number), keys.job(job_id), keys.status_log(job_id)],
            args=[token, lease_s, worker, max_attempts],
        )
        return Claim(outcome=outcome, attempt=int(attempt), token=token)

    def renew_lease(
        self, job_id: str, number: int, token: str, lease_s: float, **fields: str
    ) -> LeaseState:
        """Extend the lease (and write ``fields``) if ``token`` still holds it."""
        flat = [item for pair in fields.items() for item in pair]
        result = self._renew(
            keys=[keys.trial(job_id, number), keys.job(job_id)], args=[token, lease_s, *flat]
        )
        return LeaseState(int(result))

    def release_trial(self, job_id: str, number: int, token: str) -> bool:
        """Put a running trial back in the queue (its worker is shutting down)."""
        return bool(self._release_trial(keys=[keys.trial(job_id, number)], args=[token]))

    def finish_trial(self, job_id: str, number: int, token: str, outcome: TrialOutcome) -> bool:
        """Finish the trial exactly once; False if it was finished or its lease taken over."""
        fields: dict[str, str] = {
            "metrics": json.dumps(dict(outcome.metrics or {})),
            "history": json.dumps(dict(outcome.history or {})),
            "epochs": str(outcome.epochs),
        }
        if outcome.best_epoch is not None:
            fields["best_epoch"] = str(outcome.best_epoch)
        if outcome.details:
            fields["details"] = json.dumps(dict(outcome.details))
        if outcome.error:
            fields["error"] = outcome.error[:2000]
        value = "" if outcome.value is None else repr(float(outcome.value))
        flat = [item for pair in fields.items() for item in pair]
        return bool(
            self._finish(
                keys=[keys.trial(job_id, number), keys.job(job_id)],
                args=[token, outcome.state.value, value, *flat],
            )
        )

    # ---- the advance lock

    @contextlib.contextmanager
    def advance_lock(self, job_id: str, ttl_s: float = 30.0) -> Iterator[bool]:
        """Hold the job's scheduling lock; yields False (without waiting) if another holds it."""
        token = secrets.token_hex(16)
        key = keys.job_lock(job_id)
        acquired = bool(self.redis.set(key, token, nx=True, px=int(ttl_s * 1000)))
        try:
            yield acquired
        finally:
            if acquired:
                self._release(keys=[key], args=[token])


def _trial(job_id: str, raw: Mapping[str, str]) -> TrialRecord:
    return TrialRecord(
        job_id=job_id,
        number=int(raw["number"]),
        state=TrialState(raw["state"]),
        params=json.loads(raw["params"]),
        attempt=int(raw.get("attempt", 0)),
        preemptions=int(raw.get("preemptions", 0)),
        value=_float(raw.get("value")),
        metrics=json.loads(raw.get("metrics") or "{}"),
        history=json.loads(raw.get("history") or "{}"),
        details=json.loads(raw.get("details") or "{}"),
        epochs=int(raw.get("epochs") or 0),
        best_epoch=_int(raw.get("best_epoch")),
        error=raw.get("error") or None,
        worker=raw.get("worker") or None,
        created_at=_float(raw.get("created_at")),
        started_at=_float(raw.get("started_at")),
        finished_at=_float(raw.get("finished_at")),
        lease_deadline=_float(raw.get("lease_deadline")),
        dispatched_at=_float(raw.get("dispatched_at")),
    )


def _log_entry(entry: str) -> dict[str, Any]:
    status, _, at = entry.partition("@")
    return {"status": status, "at": float(at)}


def _int(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


def _float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)
