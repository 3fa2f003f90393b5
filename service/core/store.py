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
import math
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.sentinel import SentinelConnectionPool

from service.core import keys, redis_url, scripts
from service.core.records import JobRecord, JobStatus, TrialRecord, TrialState

# Progress events kept per job (older ones are trimmed; the records keep everything).
EVENTS_KEPT = 5000

# Workers write a heartbeat this often; the API is ready while one is at most 3 beats old.
HEARTBEAT_S = 10

# Upper bounds (seconds) of the trial duration histogram that /metrics exposes.
TRIAL_SECONDS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)


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
class JobRead:
    """A job as the API shows it, read in one round trip (``JobStore.read_job``): the job (None
    when there is none), its best trial without the curves, and the stored digest and tenant
    of the API key asked about (None when that key has no record, or none was asked about)."""

    job: JobRecord | None
    best: TrialRecord | None
    key_digest: str | None
    key_tenant: str | None


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


def binary_client(client: redis.Redis) -> redis.Redis:
    """A client on the same server that leaves values as bytes (``connect``'s decodes them)."""
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    if isinstance(pool, SentinelConnectionPool):  # follow the same master through failovers
        return pool.sentinel_manager.master_for(pool.service_name, **kwargs)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A Redis client (any ``TUNEQ_REDIS_URL`` form) that fails fast instead of hanging when
    the server is away."""
    return redis_url.client(
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
        self._read_job = client.register_script(scripts.READ_JOB)

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
        task: str = "classification",
        callback_url: str | None = None,
    ) -> str:
        """Store a new queued job and return its id.

        With ``max_duration_s``, no trial starts later than that many seconds after creation.
        """
        job_id = uuid.uuid4().hex
        now = self.server_time()
        extra = {"deadline_at": f"{now + max_duration_s:.6f}"} if max_duration_s else {}
        if callback_url:
            extra.update(callback_url=callback_url, webhook_status="waiting")
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
                "task": task,
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
        """Remove a job, its trials and its model (a client deleting a finished job, or a new
        job that could not be dispatched)."""
        raw = self.redis.hmget(keys.job(job_id), ["tenant", "trials_created"])
        tenant, created = raw[0], int(raw[1] or 0)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(
            keys.job(job_id),
            keys.status_log(job_id),
            keys.job_lock(job_id),
            keys.job_model(job_id),
            keys.job_events(job_id),
        )
        pipe.delete(*[keys.trial(job_id, n) for n in range(created)] or [keys.trial(job_id, 0)])
        if tenant:
            pipe.zrem(keys.tenant_jobs(tenant), job_id)
        pipe.srem(keys.active_jobs(), job_id)
        pipe.execute()

    def active_specs(self, tenant: str) -> dict[str, dict[str, Any]]:
        """The specs of the tenant's queued and running jobs, by job id."""
        active = sorted(self.redis.smembers(keys.active_jobs()))
        if not active:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for job_id in active:
            pipe.hmget(keys.job(job_id), "tenant", "spec")
        return {
            job_id: json.loads(spec)
            for job_id, (owner, spec) in zip(active, pipe.execute(), strict=True)
            if owner == tenant and spec
        }

    def page_jobs(
        self,
        tenant: str,
        *,
        limit: int,
        after: tuple[float, str] | None = None,
        keep: Callable[[JobRecord], bool] = lambda job: True,
        max_scanned: int = 5000,
    ) -> tuple[list[JobRecord], tuple[float, str] | None]:
        """The tenant's jobs, newest first, that ``keep`` accepts, after the position ``after``
        (creation time and id of the last one a client saw). Returns the page and the position
        to continue from (None at the end). Ties in creation time are ordered by id, so a page
        boundary never skips or repeats a job; ids of jobs that expired are dropped on the way.
        """
        found: list[JobRecord] = []
        high: float | str = after[0] if after else "+inf"
        scanned, last, size = 0, after, 100
        while len(found) < limit and scanned < max_scanned:
            batch = self.redis.zrevrangebyscore(
                keys.tenant_jobs(tenant), high, "-inf", start=0, num=size, withscores=True
            )
            fresh = [
                (job_id, score)
                for job_id, score in batch
                if last is None or score < last[0] or (score == last[0] and job_id < last[1])
            ]
            if not fresh and len(batch) == size:  # a full batch of ties already seen
                size *= 2
                continue
            if not fresh:
                return found, None
            for job_id, score in fresh:
                scanned += 1
                last = (score, job_id)
                try:
                    job = self.get_job(job_id)
                except JobNotFound:
                    self.redis.zrem(keys.tenant_jobs(tenant), job_id)
                    continue
                if keep(job):
                    found.append(job)
                    if len(found) == limit:
                        break
            high = last[0] if last else high
        return found, last

    def get_job(self, job_id: str) -> JobRecord:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.job(job_id))
        pipe.lrange(keys.status_log(job_id), 0, -1)
        raw, log = pipe.execute()
        if not raw:
            raise JobNotFound(job_id)
        return _job(raw, log)

    def read_job(self, job_id: str, key_digest: str | None = None) -> JobRead:
        """The job with its best trial (without its curves) in one round trip; with
        ``key_digest``, also what the store holds for that API key, so a polled job is
        authenticated and read at once. The job is None when it does not exist."""
        job_keys = [keys.job(job_id), keys.status_log(job_id)]
        if key_digest is not None:
            job_keys.append(keys.api_key(key_digest))
        raw, log, best, key = self._read_job(keys=job_keys, args=[keys.trial_prefix(job_id)])
        pairs = dict(zip(raw[::2], raw[1::2], strict=True))
        trial = dict(zip(best[::2], best[1::2], strict=True))
        return JobRead(
            job=_job(pairs, log) if pairs else None,
            best=_trial(job_id, trial) if trial else None,
            key_digest=key[0] if key else None,
            key_tenant=key[1] if key else None,
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
        if moved:
            self.emit(job_id, "job_status", status=status.value)
        if moved and status.is_finished:
            self._expire_job(job_id)
            self._queue_webhook(job_id)
            self.redis.hincrby(keys.stats_jobs_finished(), status.value, 1)
        return moved

    # ---- webhooks

    def _queue_webhook(self, job_id: str) -> None:
        """A finished job with a callback URL: its webhook is now due (once)."""
        if self.redis.hget(keys.job(job_id), "webhook_status") != "waiting":
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            keys.job(job_id),
            mapping={"webhook_status": "pending", "webhook_next_at": f"{self.server_time():.6f}"},
        )
        pipe.sadd(keys.webhooks_pending(), job_id)
        pipe.execute()

    def due_webhooks(self) -> list[str]:
        """Jobs whose webhook should be tried now (first try, or its backoff has passed)."""
        pending = sorted(self.redis.smembers(keys.webhooks_pending()))
        if not pending:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in pending:
            pipe.hget(keys.job(job_id), "webhook_next_at")
        now, due = self.server_time(), []
        for job_id, next_at in zip(pending, pipe.execute(), strict=True):
            if next_at is None:  # the job expired or was deleted
                self.redis.srem(keys.webhooks_pending(), job_id)
            elif float(next_at) <= now:
                due.append(job_id)
        return due

    def webhook_lock(self, job_id: str, ttl_s: int) -> bool:
        """One delivery of a job's webhook at a time."""
        return bool(self.redis.set(keys.webhook_lock(job_id), "1", nx=True, ex=ttl_s))

    def release_webhook_lock(self, job_id: str) -> None:
        self.redis.delete(keys.webhook_lock(job_id))

    def record_webhook(
        self, job_id: str, error: str | None, max_attempts: int, retry_in_s: float
    ) -> str:
        """Record one delivery attempt; returns the webhook's status afterwards."""
        attempts = self.redis.hincrby(keys.job(job_id), "webhook_attempts", 1)
        now = self.server_time()
        if error is None:
            fields = {"webhook_status": "delivered", "webhook_delivered_at": f"{now:.6f}"}
        elif attempts >= max_attempts:
            fields = {"webhook_status": "failed", "webhook_error": error[:500]}
        else:
            fields = {"webhook_error": error[:500], "webhook_next_at": f"{now + retry_in_s:.6f}"}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.job(job_id), mapping=fields)
        if "webhook_status" in fields:
            pipe.srem(keys.webhooks_pending(), job_id)
        pipe.delete(keys.webhook_lock(job_id))
        pipe.execute()
        return fields.get("webhook_status", "pending")

    # ---- progress events

    def emit(self, job_id: str, kind: str, **data: Any) -> None:
        """Append a progress event to the job's stream (the newest few thousand are kept).

        Events tell a watching client to look; the job and trial records stay the truth.
        """
        self.redis.xadd(
            keys.job_events(job_id),
            {"type": kind, "data": json.dumps(data, separators=(",", ":"))},
            maxlen=EVENTS_KEPT,
            approximate=True,
        )

    def last_event_id(self, job_id: str) -> str:
        """The id of the job's newest event ("0-0" before the first)."""
        newest = self.redis.xrevrange(keys.job_events(job_id), count=1)
        return newest[0][0] if newest else "0-0"

    def read_events(
        self, job_id: str, after: str, block_ms: int
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Events after stream id ``after``, waiting up to ``block_ms`` for the first one."""
        found = self.redis.xread({keys.job_events(job_id): after}, count=100, block=block_ms)
        return [
            (event_id, fields["type"], json.loads(fields["data"]))
            for _, entries in found or ()
            for event_id, fields in entries
        ]

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
            self.emit(job_id, "job_status", status=status)
            self._expire_job(job_id)
            self._queue_webhook(job_id)
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
        if self._raw is None:
            self._raw = binary_client(self.redis)
        return self._raw

    def _expire_job(self, job_id: str) -> None:
        created = int(self.redis.hget(keys.job(job_id), "trials_created") or 0)
        pipe = self.redis.pipeline(transaction=False)
        for key in (
            keys.job(job_id),
            keys.status_log(job_id),
            keys.job_model(job_id),
            keys.job_events(job_id),
        ):
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
        if outcome == "claimed":
            self.emit(job_id, "trial_started", trial=number, attempt=int(attempt), worker=worker)
        return Claim(outcome=outcome, attempt=int(attempt), token=token)

    def renew_lease(
        self, job_id: str, number: int, token: str, lease_s: float, **fields: str
    ) -> LeaseState:
        """Extend the lease (and write ``fields``) if ``token`` still holds it."""
        flat = [item for pair in fields.items() for item in pair]
        result = self._renew(
            keys=[keys.trial(job_id, number), keys.job(job_id)], args=[token, lease_s, *flat]
        )
        if int(result) == LeaseState.HELD and "epochs" in fields:
            history = json.loads(fields.get("history") or "{}")
            last = {name: values[-1] for name, values in history.items() if values}
            self.emit(job_id, "epoch", trial=number, epoch=int(fields["epochs"]), metrics=last)
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
        finished = bool(
            self._finish(
                keys=[keys.trial(job_id, number), keys.job(job_id)],
                args=[token, outcome.state.value, value, *flat],
            )
        )
        if finished:
            self._count_trial(job_id, number, outcome.state)
            finite = outcome.value is not None and math.isfinite(outcome.value)
            self.emit(
                job_id,
                "trial_finished",
                trial=number,
                state=outcome.state.value,
                value=float(outcome.value) if finite else None,  # type: ignore[arg-type]
            )
        return finished

    def _count_trial(self, job_id: str, number: int, state: TrialState) -> None:
        """Count the finished trial for /metrics: by state, and its duration's bucket."""
        started, ended = self.redis.hmget(keys.trial(job_id, number), "started_at", "finished_at")
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(keys.stats_trials(), state.value, 1)
        if started and ended:
            seconds = max(0.0, float(ended) - float(started))
            bucket = next((b for b in TRIAL_SECONDS_BUCKETS if seconds <= b), "+Inf")
            pipe.hincrby(keys.stats_trial_seconds(), str(bucket), 1)
            pipe.hincrbyfloat(keys.stats_trial_seconds(), "sum", seconds)
        pipe.execute()

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


def _webhook(raw: Mapping[str, str]) -> dict[str, Any] | None:
    if not raw.get("callback_url"):
        return None
    return {
        "url": raw["callback_url"],
        "status": raw.get("webhook_status", "waiting"),
        "attempts": int(raw.get("webhook_attempts") or 0),
        "last_error": raw.get("webhook_error") or None,
        "delivered_at": _float(raw.get("webhook_delivered_at")),
    }


def _job(raw: Mapping[str, str], log: list[str]) -> JobRecord:
    return JobRecord(
        id=raw["id"],
        tenant=raw["tenant"],
        name=raw["name"],
        status=JobStatus(raw["status"]),
        spec=json.loads(raw["spec"]),
        max_trials=int(raw["max_trials"]),
        task=raw.get("task", "classification"),
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
        webhook=_webhook(raw),
    )


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
