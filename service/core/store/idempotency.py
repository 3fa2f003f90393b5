"""``Idempotency-Key`` on job submission: a retried POST gets the job the first one created.

The first request with a key reserves it (``SET NX``) with the hash of its body, then records the
job it created. A retry with the same key and body gets that job; the same key with another body
is a client bug; a retry while the first is still being handled is told to retry. A request that
fails releases its key, so a corrected retry can use it again. Keys are per tenant and kept for
24 hours.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from service.core import keys
from service.core.store.connection import Connection, StoreUnavailable

TTL_S = 24 * 3600
PENDING_TTL_S = 60  # a reservation whose request died frees itself


class ReservationOutcome(StrEnum):
    NEW = "new"  # the caller goes ahead and creates the job
    REPLAY = "replay"  # the job was created already: answer with it
    MISMATCH = "mismatch"  # the key was used with another body
    PENDING = "pending"  # the first request with the key is still being handled


@dataclass(frozen=True)
class Reservation:
    outcome: ReservationOutcome
    job_id: str | None = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def body_hash(payload: object) -> str:
    """The same JSON, however its keys are ordered or spaced, hashes the same."""
    return _digest(json.dumps(payload, sort_keys=True, separators=(",", ":")))


class RedisIdempotency:
    def __init__(self, conn: Connection) -> None:
        self._redis = conn.redis

    def reserve(self, tenant: str, key: str, body: str) -> Reservation:
        name = keys.idempotency(tenant, _digest(key))
        record = json.dumps({"body": body, "job": None})
        if self._redis.set(name, record, nx=True, ex=PENDING_TTL_S):
            return Reservation(ReservationOutcome.NEW)
        raw = self._redis.get(name)
        if raw is None:  # expired between the two calls: take it now
            return self.reserve(tenant, key, body)
        stored = json.loads(raw)
        if stored["body"] != body:
            return Reservation(ReservationOutcome.MISMATCH)
        if stored["job"] is None:
            return Reservation(ReservationOutcome.PENDING)
        return Reservation(ReservationOutcome.REPLAY, stored["job"])

    def complete(self, tenant: str, key: str, body: str, job_id: str) -> None:
        name = keys.idempotency(tenant, _digest(key))
        self._redis.set(name, json.dumps({"body": body, "job": job_id}), ex=TTL_S)

    def release(self, tenant: str, key: str) -> None:
        self._redis.delete(keys.idempotency(tenant, _digest(key)))

    @contextlib.contextmanager
    def released_on_failure(self, tenant: str, key: str) -> Iterator[None]:
        """Around the work a new reservation stands for: if it fails, the key is released
        (best effort), so that a retry with it does the work rather than waiting on it."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(StoreUnavailable):
                self.release(tenant, key)
            raise
