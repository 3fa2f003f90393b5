"""Attack 1 and 9: event streams of one tenant must not take the connections or threads that
everyone's ordinary requests need; a stream's lifetime is bounded; a bad ``Last-Event-ID`` is a
400 in the error shape."""

from __future__ import annotations

import dataclasses
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.core.settings import Settings
from tests.helpers import api_client, synthetic_spec
from tests.security.conftest import Api
from tests.security.wire import json_body, request

pytestmark = pytest.mark.integration

STREAMS = 200
SECONDS = 60.0


def open_stream(api: Api, key: str, job_id: str) -> socket.socket:
    """An event stream held open without reading it, as a slow or hostile client would."""
    parts = urlsplit(api.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        f"GET /v1/jobs/{job_id}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return sock


def submit(api: Api, key: str) -> str:
    status, _, body = request(
        api.url,
        "POST",
        "/v1/jobs",
        key=key,
        headers={"Content-Type": "application/json"},
        body=json.dumps(synthetic_spec(2, sleep_s=0.1)).encode(),
    )
    assert status == 202, body
    return json_body(body)["id"]


def test_streams_of_one_tenant_leave_everyone_elses_requests_alone(
    start_api: Callable[..., Api],
) -> None:
    api = start_api()
    job_a, job_b = submit(api, api.key_a), submit(api, api.key_b)  # no worker: they stay queued
    streams: list[socket.socket] = []
    opener = threading.Thread(
        target=lambda: streams.extend(open_stream(api, api.key_a, job_a) for _ in range(STREAMS))
    )
    opener.start()
    latencies: list[float] = []
    errors: list[Any] = []
    deadline = time.monotonic() + SECONDS
    try:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status, _, body = request(
                    api.url, "GET", f"/v1/jobs/{job_b}", key=api.key_b, timeout=5
                )
                if status != 200:
                    errors.append((status, body[:200]))
            except OSError as exc:
                errors.append(repr(exc))
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    finally:
        opener.join()
        for sock in streams:
            sock.close()
    assert errors == []
    p99 = statistics.quantiles(latencies, n=100)[98]
    # not a benchmark: a request stuck behind the streams waited seconds to minutes before
    assert p99 < 1.0, f"p99 {p99:.2f} s over {len(latencies)} requests"


def test_one_key_may_hold_only_a_few_streams(start_api: Callable[..., Api]) -> None:
    api = start_api(max_streams_per_key=2)
    job_a = submit(api, api.key_a)
    held = [open_stream(api, api.key_a, job_a) for _ in range(2)]
    try:
        for sock in held:
            assert sock.recv(200).startswith(b"HTTP/1.1 200")
        status, headers, body = request(
            api.url, "GET", f"/v1/jobs/{job_a}/events", key=api.key_a, timeout=5
        )
        assert status == 429, body
        assert json_body(body)["error"]["code"] == "too_many_streams"
        assert int(headers["Retry-After"]) > 0
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 30  # the server notices closed streams and frees them
    while True:
        sock = open_stream(api, api.key_a, job_a)
        first = sock.recv(200)
        sock.close()
        if first.startswith(b"HTTP/1.1 200"):
            break
        assert time.monotonic() < deadline, first
        time.sleep(0.5)


def test_a_stream_ends_after_its_lifetime_and_resumes_where_it_stopped(
    settings: Settings,
) -> None:
    client = api_client(dataclasses.replace(settings, stream_max_s=1.0))
    job_id = client.post("/v1/jobs", json=synthetic_spec(2, sleep_s=0.1)).get_json()["id"]
    started = time.monotonic()
    first = client.get(f"/v1/jobs/{job_id}/events").get_data(as_text=True)
    assert time.monotonic() - started < 10  # it ended by itself, though the job is queued
    assert "event: snapshot" in first
    last_id = [line[4:] for line in first.splitlines() if line.startswith("id: ")][-1]
    again = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": last_id})
    assert again.status_code == 200 and "event: snapshot" not in again.get_data(as_text=True)


@pytest.mark.parametrize(
    "event_id", ["99999999999999999999-0", "0-99999999999999999999", "18446744073709551616-0"]
)
def test_a_last_event_id_beyond_the_stream_ids_is_400(settings: Settings, event_id: str) -> None:
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(2, sleep_s=0.1)).get_json()["id"]
    response = client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": event_id})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
