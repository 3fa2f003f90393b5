"""Server-sent events: a job's progress as it happens, from its Redis stream.

Workers append ``trial_started``, ``epoch``, ``trial_finished`` and ``job_status`` events to the
job's stream (``store.events``); this route relays them. Reads block for at most a second at a
time, below the Redis client's socket timeout, and a quiet stream gets a comment line now and
then so proxies keep it open.

A stream holds a thread of its API process for as long as it lasts, so streams are rationed:
each API key may hold ``max_streams_per_key`` at once (429 beyond), each process serves at most
``streams_per_process`` (503 beyond: fewer than its threads, so that streams never hold them
all), and each stream ends after ``stream_max_s``; the client reconnects with
``Last-Event-ID`` and loses nothing. Waiting reads use connections of their own.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request
from flask.typing import ResponseReturnValue

from service.api.auth import current_caller
from service.api.errors import ApiError
from service.api.jobs import job_for_caller
from service.api.views import job_summary
from service.core.records import JobStatus
from service.core.settings import Settings
from service.core.store import JobStore
from service.core.store.events import READ_MOST

blueprint = Blueprint("events", __name__, url_prefix="/v1/jobs")

_EVENT_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")
_MAX_ID_PART = 2**64 - 1  # Redis stream ids are two unsigned 64-bit numbers
# A comment line this often keeps proxies from closing a quiet stream, and finds out soon that
# a client went away (a write to a closed connection fails), which frees its stream's place.
KEEPALIVE_S = 5.0
GATHER_S = 0.2  # after sending events, how long the next ones may gather (well inside 2 s)


def install(app: Flask, settings: Settings) -> None:
    """Give the app its slots for streams (one process serves at most that many at once)."""
    app.extensions["tuneq.stream_slots"] = threading.BoundedSemaphore(settings.streams_per_process)
    app.register_blueprint(blueprint)


def _resume_from() -> str | None:
    """The ``Last-Event-ID`` a reconnecting client sent, checked (400 when it is none of ours)."""
    resume = request.headers.get("Last-Event-ID")
    if resume is None:
        return None
    match = _EVENT_ID.match(resume)
    if match is None or any(int(part) > _MAX_ID_PART for part in match.groups()):
        raise ApiError(400, "bad_request", "Last-Event-ID must be an id this stream sent.")
    return resume


@blueprint.get("/<job_id>/events")
def job_events(job_id: str) -> ResponseReturnValue:
    """Progress as server-sent events: a ``snapshot`` of the job, then ``trial_started``,
    ``epoch``, ``trial_finished`` and ``job_status`` as they happen; the stream ends when the
    job finishes (or after ``stream_max_s``). Reconnecting with ``Last-Event-ID`` resumes
    after that event."""
    job = job_for_caller(job_id)
    resume = _resume_from()
    store: JobStore = current_app.extensions["tuneq.store"]
    settings: Settings = current_app.config["TUNEQ_SETTINGS"]
    after = resume or store.events.last_id(job.id)
    block_ms = int(min(1000, settings.redis_timeout_s * 1000 / 2))
    if resume is None and job.status.is_finished:  # the snapshot says it all: no slot needed
        return _stream_response(iter([_sse("snapshot", job_summary(job), after)]))
    slots: threading.BoundedSemaphore = current_app.extensions["tuneq.stream_slots"]
    if not slots.acquire(blocking=False):
        raise ApiError(
            503,
            "unavailable",
            "This server holds as many event streams as it may; retry shortly, or poll "
            "GET /v1/jobs/<id>?wait=N instead.",
            headers={"Retry-After": "5"},
        )
    caller, stream_id = current_caller(), uuid.uuid4().hex
    try:
        lasts_s = settings.stream_max_s + 60
        opened = store.events.open_stream(caller, stream_id, settings.max_streams_per_key, lasts_s)
    except BaseException:
        slots.release()
        raise
    if not opened:
        slots.release()
        raise ApiError(
            429,
            "too_many_streams",
            f"This key holds {settings.max_streams_per_key} event streams, the most allowed; "
            "close one, or poll GET /v1/jobs/<id>?wait=N instead.",
            headers={"Retry-After": "10"},
        )

    def stream() -> Iterator[str]:
        try:
            if resume is None:
                yield _sse("snapshot", job_summary(job), after)
            yield from _relay(store, job.id, after, block_ms, settings.stream_max_s)
        finally:
            slots.release()
            store.events.close_stream(caller, stream_id)

    return _stream_response(stream())


def _relay(store: JobStore, job_id: str, after: str, block_ms: int, max_s: float) -> Iterator[str]:
    """The job's events after ``after`` until it finishes or ``max_s`` has passed.

    What one read finds goes out in one write, and after a write the next read waits
    ``GATHER_S``: a small model trains dozens of epochs a second, and an event a write (and a
    read) would cost each open stream hundreds of each a second for no one's benefit."""
    cursor, quiet_since, opened = after, time.monotonic(), time.monotonic()
    while time.monotonic() - opened < max_s:
        events = store.events.read(job_id, cursor, block_ms)
        batch = []
        for event_id, kind, data in events:
            cursor = event_id
            batch.append(_sse(kind, data, event_id))
            if kind == "job_status" and JobStatus(data["status"]).is_finished:
                yield "".join(batch)
                return
        if batch:
            yield "".join(batch)
            quiet_since = time.monotonic()
            if len(events) < READ_MOST:  # caught up: let the next ones gather
                time.sleep(GATHER_S)
        elif time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"


def _stream_response(body: Iterator[str]) -> Response:
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(kind: str, data: Any, event_id: str) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
