"""Delivering a finished job's webhook: once per attempt, signed, with backoff and a last
attempt, to a real HTTP receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from service.core.records import JobStatus, TrialState, WebhookStatus
from service.core.spec import load_spec
from service.core.store import TrialOutcome
from tests.helpers import synthetic_spec
from tests.memory_store import MemoryStore
from worker.engine.webhooks import (
    SIGNATURE_HEADER,
    DeliveryPolicy,
    DeliveryResult,
    deliver_job_webhook,
    retry_delay_s,
)

SECRET = "s" * 32
LOCAL = DeliveryPolicy(allow_loopback=True)  # the receiver listens on loopback


class Receiver:
    """Answers each POST with the next status in ``statuses`` and keeps what it got."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0))
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([])
    yield made
    made.server.shutdown()


def finished_job(store: MemoryStore, url: str | None) -> str:
    body = synthetic_spec(1, sleep_s=0.0)
    if url:
        body["callback_url"] = url
    job_id = store.jobs.create("t1", load_spec(body))
    store.trials.add(job_id, [{"learning_rate": 0.01, "units": 64}])
    claim = store.trials.claim(job_id, 0, "w", lease_s=30)
    outcome = TrialOutcome(TrialState.COMPLETED, value=0.93, metrics={"val_accuracy": 0.93})
    store.trials.finish(job_id, 0, claim.token, outcome)
    store.jobs.set_status(
        job_id, JobStatus.SUCCEEDED, (JobStatus.RUNNING,), test_metrics={"test_accuracy": 0.9}
    )
    return job_id


def test_a_delivery_is_signed_and_carries_the_result(receiver: Receiver) -> None:
    store = MemoryStore()
    job_id = finished_job(store, receiver.url)
    receiver.statuses.append(204)
    assert deliver_job_webhook(store, job_id, SECRET, 3, LOCAL) == DeliveryResult.DELIVERED
    headers, body = receiver.received[0]
    timestamp, signature = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(signature, expected.hexdigest())
    sent = json.loads(body)["job"]
    assert (sent["id"], sent["status"]) == (job_id, "succeeded")
    assert sent["best"]["params"] == {"learning_rate": 0.01, "units": 64}
    assert sent["best"]["metrics"] == {"val_accuracy": 0.93, "test_accuracy": 0.9}
    webhook = store.jobs.get(job_id).webhook
    assert webhook is not None and webhook.status == WebhookStatus.DELIVERED
    assert deliver_job_webhook(store, job_id, SECRET, 3, LOCAL) == DeliveryResult.NOT_DUE
    assert len(receiver.received) == 1


def test_failures_are_retried_until_the_last_attempt(receiver: Receiver) -> None:
    store = MemoryStore()
    job_id = finished_job(store, receiver.url)
    receiver.statuses += [500, 502]
    assert deliver_job_webhook(store, job_id, SECRET, 2, LOCAL) == DeliveryResult.RETRY_LATER
    assert deliver_job_webhook(store, job_id, SECRET, 2, LOCAL) == DeliveryResult.GAVE_UP
    webhook = store.jobs.get(job_id).webhook
    assert webhook is not None and webhook.status == WebhookStatus.FAILED
    assert webhook.attempts == 2 and webhook.last_error == "HTTP 502"
    assert [h["X-Tuneq-Delivery"] for h, _ in receiver.received] == [f"{job_id}-1", f"{job_id}-2"]
    assert [retry_delay_s(n) for n in (1, 2, 3, 20)] == [2.0, 4.0, 8.0, 3600.0]


def test_nothing_is_sent_without_a_due_webhook_or_while_another_delivers(
    receiver: Receiver,
) -> None:
    store = MemoryStore()
    plain = finished_job(store, None)
    assert deliver_job_webhook(store, plain, SECRET, 3, LOCAL) == DeliveryResult.NO_WEBHOOK
    running = store.jobs.create("t1", load_spec({**synthetic_spec(1, 0.0), "callback_url": "x"}))
    assert deliver_job_webhook(store, running, SECRET, 3, LOCAL) == DeliveryResult.NOT_DUE
    due = finished_job(store, receiver.url)
    assert store.webhooks.lock(due, ttl_s=30)
    assert deliver_job_webhook(store, due, SECRET, 3, LOCAL) == DeliveryResult.BUSY
    assert receiver.received == [] and store.webhooks.attempts == []
