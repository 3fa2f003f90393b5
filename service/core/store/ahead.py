"""Suggestions computed ahead of need, so a parallel Bayesian job never waits for a refit.

A refill (a control task, outside the job's scheduling lock) fits the surrogate and writes a
batch of points; an advance takes points from the front without fitting anything. Each batch
has an id and records the state it was made from: how many trials had finished (its *basis*)
and how many existed, so the scheduler can skip points that fell too far behind and knows when
another refill would only make the same points again.

Both writes are single Lua steps (kept here, beside the one module that runs them): a batch
replaces the last one only while the job is queued or running, so a refill that ends after its
job leaves nothing behind; and an advance removes the points it read only if they are still
the front of the batch it read, so a refill landing in between loses nothing. One refill per
job runs at a time, under a short token lock that lapses by itself if its holder dies.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.core import keys
from service.core.store import scripts
from service.core.store.connection import Connection

# Finishing or deleting the job removes its points; the expiry is only the backstop.
AHEAD_TTL_S = 7 * 24 * 3600

# KEYS: job, its points. ARGV: expiry (s), then each point's JSON. Replaces the points while the
# job searches; returns 1 if it wrote them.
PUT_AHEAD = """
local status = redis.call('HGET', KEYS[1], 'status')
redis.call('DEL', KEYS[2])
if status ~= 'queued' and status ~= 'running' then return 0 end
if #ARGV > 1 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 2))
  redis.call('EXPIRE', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: the job's points. ARGV: batch id, count. Removes the first `count` points if the front
# is still that batch's; returns 1 if it did.
DROP_AHEAD = """
local head = redis.call('LINDEX', KEYS[1], 0)
if not head or cjson.decode(head)['i'] ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
return 1
"""


@dataclass(frozen=True)
class AheadPoint:
    """A suggestion of batch ``batch``, made when ``basis`` of the job's ``created`` trials
    had finished."""

    batch: str
    basis: int
    created: int
    params: Mapping[str, Any]


class RedisAhead:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._redis = conn.redis

    def put(
        self, job_id: str, basis: int, created: int, points: Sequence[Mapping[str, Any]]
    ) -> bool:
        """Replace the job's points with ``points``, made from ``basis`` finished trials of
        ``created``; False (and nothing stored) when the job no longer searches."""
        batch = secrets.token_hex(6)
        encoded = [json.dumps({"i": batch, "b": basis, "c": created, "p": dict(p)}) for p in points]
        found = self._conn.script(PUT_AHEAD)(
            keys=[keys.job(job_id), keys.job_ahead(job_id)], args=[AHEAD_TTL_S, *encoded]
        )
        return bool(found)

    def peek(self, job_id: str) -> list[AheadPoint]:
        """Every point held, in order."""
        return [_point(raw) for raw in self._redis.lrange(keys.job_ahead(job_id), 0, -1)]

    def drop(self, job_id: str, batch: str, count: int) -> None:
        """Remove the first ``count`` points (taken, or no use), if they still are batch
        ``batch``'s front."""
        if count > 0:
            self._conn.script(DROP_AHEAD)(keys=[keys.job_ahead(job_id)], args=[batch, count])

    def claim_refill(self, job_id: str, ttl_s: float) -> str | None:
        """A token if no refill of the job is asked for or running; None otherwise."""
        token = secrets.token_hex(8)
        key = keys.job_refill(job_id)
        held = self._redis.set(key, token, nx=True, px=max(1000, int(ttl_s * 1000)))
        return token if held else None

    def release_refill(self, job_id: str, token: str) -> None:
        """End the refill ``token`` holds (nothing if its lock lapsed and another holds it)."""
        self._conn.script(scripts.RELEASE_LOCK)(keys=[keys.job_refill(job_id)], args=[token])


def _point(raw: bytes | str) -> AheadPoint:
    found = json.loads(raw)
    return AheadPoint(
        batch=str(found["i"]), basis=int(found["b"]), created=int(found["c"]), params=found["p"]
    )
