"""The webhook outbox: finished jobs whose callback is due, one delivery at a time per job, and
the outcome of each attempt with its backoff.

A job with a callback URL starts ``waiting``; when it finishes it turns ``pending`` (due now)
and joins the outbox; each failed attempt sets the next due time; it ends ``delivered`` or,
after the last attempt, ``failed``, and leaves the outbox.
"""

from __future__ import annotations

from service.core import keys
from service.core.records import WebhookStatus
from service.core.store.connection import Connection


class RedisWebhooks:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._redis = conn.redis

    def queue(self, job_id: str) -> None:
        """A finished job with a callback URL: its webhook is now due (once)."""
        if self._redis.hget(keys.job(job_id), "webhook_status") != WebhookStatus.WAITING:
            return
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            keys.job(job_id),
            mapping={
                "webhook_status": WebhookStatus.PENDING.value,
                "webhook_next_at": f"{self._conn.server_time():.6f}",
            },
        )
        pipe.sadd(keys.webhooks_pending(), job_id)
        pipe.execute()

    def due(self) -> list[str]:
        """Jobs whose webhook should be tried now (first try, or its backoff has passed)."""
        pending = sorted(self._redis.smembers(keys.webhooks_pending()))
        if not pending:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for job_id in pending:
            pipe.hget(keys.job(job_id), "webhook_next_at")
        now, due = self._conn.server_time(), []
        for job_id, next_at in zip(pending, pipe.execute(), strict=True):
            if next_at is None:  # the job expired or was deleted
                self._redis.srem(keys.webhooks_pending(), job_id)
            elif float(next_at) <= now:
                due.append(job_id)
        return due

    def lock(self, job_id: str, ttl_s: int) -> bool:
        """True for the one caller that may deliver the job's webhook now."""
        return bool(self._redis.set(keys.webhook_lock(job_id), "1", nx=True, ex=ttl_s))

    def release_lock(self, job_id: str) -> None:
        self._redis.delete(keys.webhook_lock(job_id))

    def record(
        self, job_id: str, error: str | None, max_attempts: int, retry_in_s: float
    ) -> WebhookStatus:
        """Record one delivery attempt (and release the lock); returns the status after it."""
        attempts = self._redis.hincrby(keys.job(job_id), "webhook_attempts", 1)
        now = self._conn.server_time()
        status = WebhookStatus.PENDING
        if error is None:
            status = WebhookStatus.DELIVERED
            fields = {"webhook_status": status.value, "webhook_delivered_at": f"{now:.6f}"}
        elif attempts >= max_attempts:
            status = WebhookStatus.FAILED
            fields = {"webhook_status": status.value, "webhook_error": error[:500]}
        else:
            fields = {"webhook_error": error[:500], "webhook_next_at": f"{now + retry_in_s:.6f}"}
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.job(job_id), mapping=fields)
        if status != WebhookStatus.PENDING:
            pipe.srem(keys.webhooks_pending(), job_id)
        pipe.delete(keys.webhook_lock(job_id))
        pipe.execute()
        return status
