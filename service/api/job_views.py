"""Rendered job views, kept per API process with the store's tag of what they were made from.

Clients poll jobs more than anything else, and most polls find nothing changed. The store's
job read (``READ_JOB``) tags the data a view is made from; sent back on the next read, an
unchanged tag makes Redis answer with the tag alone, and the view, its JSON and its ETag come
from here: no decoding, no view built, no JSON written, no hash taken. The key is still
checked and counted on every read. A tag covers every byte the view is made from, so a stale
view is never served; a miss only costs the rendering it would have cost anyway.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RenderedJob:
    tag: str  # the store's tag of the data rendered
    tenant: str
    body: str  # the view as JSON
    etag: str
    finished: bool


class JobViews:
    """Views up to ``most_bytes`` in all, the oldest dropped first; a view over
    ``largest_bytes`` (a spec with very long choices) is rendered on every poll instead."""

    def __init__(self, most_bytes: int = 64 << 20, largest_bytes: int = 64 << 10) -> None:
        self._most, self._largest = most_bytes, largest_bytes
        self._views: dict[str, RenderedJob] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, job_id: str) -> RenderedJob | None:
        return self._views.get(job_id)

    def put(self, job_id: str, view: RenderedJob) -> None:
        if len(view.body) > self._largest:
            self.drop(job_id)
            return
        with self._lock:
            self._forget(job_id)
            while self._views and self._bytes + len(view.body) > self._most:
                self._forget(next(iter(self._views)))
            self._views[job_id] = view
            self._bytes += len(view.body)

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._forget(job_id)

    def _forget(self, job_id: str) -> None:
        old = self._views.pop(job_id, None)
        if old is not None:
            self._bytes -= len(old.body)
