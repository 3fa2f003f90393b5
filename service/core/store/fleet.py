"""What the processes of one deployment tell one another through the store: which workers are
alive (a heartbeat each), and the fingerprint of the broker options they must all share.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from service.core import keys
from service.core.store.connection import Connection

# Workers write a heartbeat this often; the API is ready while one is at most 3 beats old.
HEARTBEAT_S = 10


class RedisFleet:
    def __init__(self, conn: Connection) -> None:
        self._redis = conn.redis

    def heartbeat(self, worker: str, at: float | None = None) -> None:
        self._redis.zadd(keys.workers(), {worker: time.time() if at is None else at})

    def workers_alive(self, within_s: float = 3 * HEARTBEAT_S) -> int:
        """Workers whose last heartbeat is at most ``within_s`` old."""
        return int(self._redis.zcount(keys.workers(), time.time() - within_s, "+inf"))

    def offer_families(
        self, worker: str, definitions: Mapping[str, Mapping[str, Any]], at: float | None = None
    ) -> None:
        """This worker serves these plugin families (sent with every heartbeat)."""
        if not definitions:
            return
        now = time.time() if at is None else at
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(keys.family_definitions(), mapping={n: json.dumps(d) for n, d in
                                                      definitions.items()})  # fmt: skip
        for name in definitions:
            pipe.zadd(keys.family_workers(name), {worker: now})
        pipe.execute()

    def live_families(self, within_s: float = 3 * HEARTBEAT_S) -> dict[str, dict[str, Any]]:
        """The plugin families some live worker offers: name -> definition (with ``workers``,
        how many offer it)."""
        definitions = self._redis.hgetall(keys.family_definitions())
        live: dict[str, dict[str, Any]] = {}
        since = time.time() - within_s
        for name, raw in sorted(definitions.items()):
            count = int(self._redis.zcount(keys.family_workers(name), since, "+inf"))
            if count:
                live[name] = {**json.loads(raw), "workers": count}
        return live

    def forget_fingerprint(self) -> None:
        """Drop the deployment's broker-options fingerprint (for a stack that starts all its
        processes itself: the next one to start sets it anew)."""
        self._redis.delete(keys.broker_options())

    def shared_fingerprint(self, mine: str) -> str:
        """The broker-options fingerprint of the deployment: the first process to start sets
        it; every later one compares its own against what this returns."""
        key = keys.broker_options()
        self._redis.set(key, mine, nx=True)
        return str(self._redis.get(key))
