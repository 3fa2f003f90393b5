"""Watching a job without hammering the API: ETag and 304, long polls that return on a change,
and server-sent events from a real worker's progress, resumable with Last-Event-ID."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import api_client, synthetic_spec, wait_job

pytestmark = pytest.mark.integration


def parse_sse(text: str) -> list[tuple[str, str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if lines:
            events.append((lines["id"], lines["event"], json.loads(lines["data"])))
    return events


def test_etag_and_long_poll(settings: Settings, spec: dict[str, Any]) -> None:
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    first = client.get(f"/v1/jobs/{job_id}")
    etag = first.headers["ETag"]
    same = client.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.headers["ETag"] == etag

    started = time.monotonic()
    quiet = client.get(f"/v1/jobs/{job_id}?wait=0.6", headers={"If-None-Match": etag})
    assert quiet.status_code == 304 and time.monotonic() - started >= 0.5

    timer = threading.Timer(0.5, lambda: client.post(f"/v1/jobs/{job_id}/cancel"))
    timer.start()
    started = time.monotonic()
    changed = client.get(f"/v1/jobs/{job_id}?wait=30", headers={"If-None-Match": etag})
    timer.join()
    assert changed.status_code == 200 and changed.get_json()["status"] == "cancelled"
    assert time.monotonic() - started < 10  # it came back with the change, not at 30 s
    assert changed.headers["ETag"] != etag
    for bad in ("wait=61", "wait=-1", "wait=soon", "colour=red"):
        assert client.get(f"/v1/jobs/{job_id}?{bad}").status_code == 422, bad


def test_events_stream_a_real_job(settings: Settings, store: JobStore, worker: Any) -> None:
    client = api_client(settings)
    spec = synthetic_spec(trials=2, sleep_s=0.05, epochs=3)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/events")
    assert response.mimetype == "text/event-stream"
    events = parse_sse(response.get_data(as_text=True))  # the stream ends with the job
    kinds = [kind for _, kind, _ in events]
    assert kinds[0] == "snapshot" and kinds[-1] == "job_status"
    assert events[-1][2]["status"] == "succeeded"
    assert kinds.count("trial_started") == 2 and kinds.count("trial_finished") == 2
    epochs = [data for _, kind, data in events if kind == "epoch"]
    assert sorted((e["trial"], e["epoch"]) for e in epochs) == [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 1),
        (1, 2),
        (1, 3),
    ]
    finished = [data for _, kind, data in events if kind == "trial_finished"]
    assert all(e["state"] == "completed" and isinstance(e["value"], float) for e in finished)
    wait_job(store, job_id)

    middle = events[len(events) // 2][0]
    resumed = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": middle})
    rest = parse_sse(resumed.get_data(as_text=True))
    assert [e[0] for e in rest] == [e[0] for e in events[len(events) // 2 + 1 :]]
    bad = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400

    done = parse_sse(client.get(f"/v1/jobs/{job_id}/events").get_data(as_text=True))
    assert [kind for _, kind, _ in done] == ["snapshot"]  # finished: the snapshot says it all
    assert done[0][2]["status"] == "succeeded"
