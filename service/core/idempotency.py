"""``Idempotency-Key`` on job submission: a retried POST gets the job the first one created.

The first request with a key reserves it (``SET NX``) with the hash of its body, then records the
job it created. A retry with the same key and body gets that job; the same key with another body
is a client bug (409); a retry while the first is still being handled is told to retry (409 with
Retry-After). A request that fails releases its key, so a corrected retry can use it again. Keys
are per tenant and kept for 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import redis

from service.core import keys

TTL_S = 24 * 3600
PENDING_TTL_S = 60  # a reservation whose request died frees itself


@dataclass(frozen=True)
class Reservation:
    outcome: str  # "new", "replay", "mismatch" or "pending"
    job_id: str | None = None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def body_hash(payload: object) -> str:
    """The same JSON, however its keys are ordered or spaced, hashes the same."""
    return _digest(json.dumps(payload, sort_keys=True, separators=(",", ":")))


class IdempotencyKeys:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def reserve(self, tenant: str, key: str, body: str) -> Reservation:
        name = keys.idempotency(tenant, _digest(key))
        record = json.dumps({"body": body, "job": None})
        if self.redis.set(name, record, nx=True, ex=PENDING_TTL_S):
            return Reservation("new")
        raw = self.redis.get(name)
        if raw is None:  # expired between the two calls: take it now
            return self.reserve(tenant, key, body)
        stored = json.loads(raw)
        if stored["body"] != body:
            return Reservation("mismatch")
        if stored["job"] is None:
            return Reservation("pending")
        return Reservation("replay", stored["job"])

    def complete(self, tenant: str, key: str, body: str, job_id: str) -> None:
        name = keys.idempotency(tenant, _digest(key))
        self.redis.set(name, json.dumps({"body": body, "job": job_id}), ex=TTL_S)

    def release(self, tenant: str, key: str) -> None:
        self.redis.delete(keys.idempotency(tenant, _digest(key)))
