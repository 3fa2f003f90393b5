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
    """At most ``most`` views, the oldest dropped first."""

    def __init__(self, most: int = 4096) -> None:
        self._most = most
        self._views: dict[str, RenderedJob] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> RenderedJob | None:
        return self._views.get(job_id)

    def put(self, job_id: str, view: RenderedJob) -> None:
        with self._lock:
            self._views.pop(job_id, None)
            while len(self._views) >= self._most:
                self._views.pop(next(iter(self._views)))
            self._views[job_id] = view

    def drop(self, job_id: str) -> None:
        with self._lock:
            self._views.pop(job_id, None)
