"""Large values kept as bytes: the refit model of each job, for download through any API node.

A model is saved before its job's status turns finished, so the job's retention clock, started
by that change, covers it too.
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
