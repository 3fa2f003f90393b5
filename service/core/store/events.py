"""A job's progress events: a Redis stream per job, for server-sent events, and the count of
event streams each caller holds open.

Events tell a watching client to look; the job and trial records stay the truth. The newest
few thousand are kept, and the stream expires with its job. Reads that wait for events (XREAD
BLOCK) run on connections of their own, so that streams never take the pool that ordinary
requests share.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from service.core import keys
from service.core.store import scripts
from service.core.store.codec import dumps
from service.core.store.connection import Connection

EVENTS_KEPT = 5000

Event = tuple[str, str, dict[str, Any]]
"""An event as read back: its stream id, its type and its data."""


READ_MOST = 100  # events one read returns at most


class RedisEvents:
    def __init__(self, conn: Connection, blocking_connections: int = 4) -> None:
        self._conn = conn
        self._redis = conn.redis
        self._blocking_connections = blocking_connections
        self._blocking: redis.Redis | None = None

    def emit(self, job_id: str, kind: str, **data: Any) -> None:
        """Append an event (``trial_started``, ``epoch``, ``trial_finished``, ``job_status``)."""
        self._redis.xadd(
            keys.job_events(job_id),
            {"type": kind, "data": dumps(data)},
            maxlen=EVENTS_KEPT,
            approximate=True,
        )

    def last_id(self, job_id: str) -> str:
        """The id of the job's newest event ("0-0" before the first)."""
        newest = self._redis.xrevrange(keys.job_events(job_id), count=1)
        return newest[0][0] if newest else "0-0"

    def read(self, job_id: str, after: str, block_ms: int) -> list[Event]:
        """Events after stream id ``after``, waiting up to ``block_ms`` for the first one."""
        if self._blocking is None:
            self._blocking = self._conn.dedicated(self._blocking_connections)
        found = self._blocking.xread(
            {keys.job_events(job_id): after}, count=READ_MOST, block=block_ms
        )
        return [
            (event_id, fields["type"], json.loads(fields["data"]))
            for _, entries in found or ()
            for event_id, fields in entries
        ]

    def open_stream(self, caller: str, stream_id: str, most: int, lasts_s: float) -> bool:
        """Count a new event stream of ``caller`` if it holds fewer than ``most``; it counts
        until ``close_stream`` or, should its process die, for ``lasts_s``."""
        opened = self._conn.script(scripts.OPEN_STREAM)(
            keys=[keys.streams(caller)], args=[stream_id, most, lasts_s]
        )
        return bool(opened)

    def close_stream(self, caller: str, stream_id: str) -> None:
        self._redis.zrem(keys.streams(caller), stream_id)
