"""Webhooks: only allowlisted HTTPS hosts are accepted, and a finished job's result reaches a
real HTTP receiver signed, retried after a failure, with the delivery status on the job."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from service.core.settings import Settings, SettingsError
from tests.helpers import Workers, api_client, synthetic_spec

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-the-webhook-tests"


def with_hooks(settings: Settings, hosts: str, loopback: bool = False) -> Settings:
    return dataclasses.replace(
        settings,
        webhook_allowed_hosts=hosts,
        webhook_secret=SECRET,
        webhook_allow_http_loopback=loopback,
    )


@pytest.mark.parametrize(
    ("url", "hosts", "loopback", "accepted"),
    [
        ("https://hooks.example.com/tuneq", "hooks.example.com", False, True),
        ("https://evil.example.net/x", "hooks.example.com", False, False),
        ("http://hooks.example.com/x", "hooks.example.com", False, False),
        ("http://127.0.0.1:9/x", "127.0.0.1", False, False),
        ("http://127.0.0.1:9/x", "127.0.0.1", True, True),
        ("https://user:pw@hooks.example.com/x", "hooks.example.com", False, False),
        ("ftp://hooks.example.com/x", "hooks.example.com", False, False),
        ("https://hooks.example.com:99999/x", "hooks.example.com", False, False),
        ("https://hooks.example.com/x", "", False, False),
    ],
)
def test_callback_url_rules(
    settings: Settings, spec: dict[str, Any], url: str, hosts: str, loopback: bool, accepted: bool
) -> None:
    client = api_client(with_hooks(settings, hosts, loopback))
    response = client.post("/v1/jobs", json={**spec, "callback_url": url})
    if accepted:
        assert response.status_code == 202, response.get_json()
        job = client.get(f"/v1/jobs/{response.get_json()['id']}").get_json()
        assert job["webhook"] == {
            "url": url,
            "status": "waiting",
            "attempts": 0,
            "last_error": None,
            "delivered_at": None,
        }
    else:
        assert response.status_code == 422
        assert "callback_url" in response.get_json()["error"]["fields"]


def test_webhooks_need_a_real_secret() -> None:
    with pytest.raises(SettingsError):
        Settings(webhook_allowed_hosts="hooks.example.com", webhook_secret="short").check()


class Receiver:
    """An HTTP server that fails its first delivery and records every one."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.received.append((dict(self.headers), body))
                self.send_response(500 if len(owner.received) == 1 else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/tuneq"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def test_finished_job_is_delivered_signed_and_retried(
    fast_settings: Settings, workers: Workers, receiver: Receiver
) -> None:
    settings = with_hooks(fast_settings, "127.0.0.1", loopback=True)
    workers.start("hooks", settings=settings)
    client = api_client(settings)
    spec = {**synthetic_spec(trials=2, sleep_s=0.0, epochs=2), "callback_url": receiver.url}
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]

    deadline = time.monotonic() + 90
    while (job := client.get(f"/v1/jobs/{job_id}").get_json())["webhook"]["status"] != "delivered":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job["status"] == "succeeded"
    assert job["webhook"]["attempts"] == 2 and job["webhook"]["last_error"] == "HTTP 500"
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    timestamp, signature = (
        part.split("=", 1)[1] for part in headers["X-Tuneq-Signature"].split(",")
    )
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(signature, expected.hexdigest())
    payload = json.loads(body)
    assert payload["event"] == "job.finished"
    assert payload["job"]["id"] == job_id and payload["job"]["status"] == "succeeded"
    assert payload["job"]["best"]["value"] == job["best"]["value"]
    assert headers["X-Tuneq-Delivery"] == f"{job_id}-2"
