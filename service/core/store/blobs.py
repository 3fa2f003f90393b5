"""Large values kept as bytes: the refit model of each job, for download through any API node,
and the reports and plots drawn for it.

A model is saved before its job's status turns finished, so the job's retention clock, started
by that change, covers it too. A drawing is kept under the version of the job it shows (a
finished job's never changes), so any API node serves it again without drawing it again, and it
expires with the job.
"""

from __future__ import annotations

from service.core import keys
from service.core.store.connection import Connection


class ModelBlobs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def save(self, job_id: str, data: bytes) -> None:
        self._conn.binary.set(keys.job_model(job_id), data)

    def get(self, job_id: str) -> bytes | None:
        value = self._conn.binary.get(keys.job_model(job_id))
        return bytes(value) if value is not None else None

    def delete(self, job_id: str) -> None:
        self._conn.binary.delete(keys.job_model(job_id))


class RenderCache:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, job_id: str, name: str, version: str) -> bytes | None:
        value = self._conn.binary.hget(keys.job_renders(job_id), f"{name}@{version}")
        return bytes(value) if value is not None else None

    def put(self, job_id: str, name: str, version: str, data: bytes) -> None:
        """Keep a drawing of the job at ``version`` (older versions of it are dropped), for as
        long as the job is kept."""
        key = keys.job_renders(job_id)
        pipe = self._conn.binary.pipeline(transaction=False)
        pipe.hkeys(key)
        pipe.pttl(keys.job(job_id))
        stale, ttl = pipe.execute()
        pipe = self._conn.binary.pipeline(transaction=True)
        old = [k for k in stale if k.decode().partition("@")[0] == name]
        if old:
            pipe.hdel(key, *old)
        pipe.hset(key, f"{name}@{version}", data)
        if ttl and ttl > 0:
            pipe.pexpire(key, ttl)
        pipe.execute()
