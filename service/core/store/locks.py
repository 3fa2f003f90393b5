"""Short locks with a token and an expiry: a holder that dies frees its lock by itself, and only
the holder can release it early."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

from service.core import keys
from service.core.store import scripts
from service.core.store.connection import Connection


class RedisLocks:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._redis = conn.redis

    @contextlib.contextmanager
    def advance(self, job_id: str, ttl_s: float = 30.0) -> Iterator[bool]:
        """Hold the job's scheduling lock; yields False (without waiting) if another holds it."""
        token = secrets.token_hex(16)
        key = keys.job_lock(job_id)
        acquired = bool(self._redis.set(key, token, nx=True, px=int(ttl_s * 1000)))
        try:
            yield acquired
        finally:
            if acquired:
                self._conn.script(scripts.RELEASE_LOCK)(keys=[key], args=[token])

    def sweep(self, holder: str, ttl_s: float) -> bool:
        """True for the one sweep that may run now; the lock lapses after ``ttl_s``."""
        return bool(
            self._redis.set(keys.sweep_lock(), holder, nx=True, px=max(1000, int(ttl_s * 1000)))
        )
