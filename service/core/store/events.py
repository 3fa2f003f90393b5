"""A job's progress events: a Redis stream per job, for server-sent events.

Events tell a watching client to look; the job and trial records stay the truth. The newest
few thousand are kept, and the stream expires with its job.
"""

from __future__ import annotations

import json
from typing import Any

from service.core import keys
from service.core.store.codec import dumps
from service.core.store.connection import Connection

EVENTS_KEPT = 5000

Event = tuple[str, str, dict[str, Any]]
"""An event as read back: its stream id, its type and its data."""


class RedisEvents:
    def __init__(self, conn: Connection) -> None:
        self._redis = conn.redis

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
        found = self._redis.xread({keys.job_events(job_id): after}, count=100, block=block_ms)
        return [
            (event_id, fields["type"], json.loads(fields["data"]))
            for _, entries in found or ()
            for event_id, fields in entries
        ]
