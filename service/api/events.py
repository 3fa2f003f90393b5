"""Server-sent events: a job's progress as it happens, from its Redis stream.

Workers append ``trial_started``, ``epoch``, ``trial_finished`` and ``job_status`` events to the
job's stream (``store.events``); this route relays them. Reads block for at most a second at a
time, below the Redis client's socket timeout, and a quiet stream gets a comment line now and
then so proxies keep it open.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from flask.typing import ResponseReturnValue

from service.api.errors import ApiError
from service.api.jobs import job_for_caller
from service.api.views import job_summary
from service.core.records import JobStatus
from service.core.store import JobStore

blueprint = Blueprint("events", __name__, url_prefix="/v1/jobs")

_EVENT_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream
MAX_STREAM_S = 600.0  # a stream is closed after this; the client resumes with Last-Event-ID


@blueprint.get("/<job_id>/events")
def job_events(job_id: str) -> ResponseReturnValue:
    """Progress as server-sent events: a ``snapshot`` of the job, then ``trial_started``,
    ``epoch``, ``trial_finished`` and ``job_status`` as they happen; the stream ends when the
    job finishes. Reconnecting with ``Last-Event-ID`` resumes after that event."""
    job = job_for_caller(job_id)
    store: JobStore = current_app.extensions["tuneq.store"]
    resume = request.headers.get("Last-Event-ID")
    if resume is not None and not _EVENT_ID.match(resume):
        raise ApiError(400, "bad_request", "Last-Event-ID must be an id this stream sent.")
    after = resume or store.events.last_id(job.id)
    block_ms = int(min(1000, store_timeout_ms() / 2))

    def stream() -> Iterator[str]:
        if resume is None:
            yield _sse("snapshot", job_summary(job), after)
            if job.status.is_finished:
                return
        cursor, quiet_since, opened = after, time.monotonic(), time.monotonic()
        while time.monotonic() - opened < MAX_STREAM_S:
            events = store.events.read(job.id, cursor, block_ms)
            for event_id, kind, data in events:
                cursor = event_id
                yield _sse(kind, data, event_id)
                if kind == "job_status" and JobStatus(data["status"]).is_finished:
                    return
            if events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield ": keep-alive\n\n"

    return Response(
        stream(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(kind: str, data: Any, event_id: str) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def store_timeout_ms() -> float:
    return current_app.config["TUNEQ_SETTINGS"].redis_timeout_s * 1000
