"""Attacks 5 and 6 on webhooks: a callback URL with control characters, a delivery that raises,
and an allowlisted name that resolves to an address inside the deployment."""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from service.core.records import WebhookStatus
from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import api_client, stored_spec, synthetic_spec
from worker.engine.webhooks import DeliveryPolicy, DeliveryResult, deliver_job_webhook

pytestmark = pytest.mark.integration

SECRET = "a-webhook-secret-of-some-length"


def hooks(settings: Settings, hosts: str, **more: Any) -> Settings:
    return dataclasses.replace(settings, webhook_allowed_hosts=hosts, webhook_secret=SECRET, **more)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x\r\nX-Injected: 1",
        "https://hooks.example.com/x\nHost: evil",
        "https://hooks.example.com/\x00",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/\t",
        "https://hooks.example.com/\x7f",
    ],
)
def test_a_callback_url_with_control_characters_is_refused(
    settings: Settings, spec: dict[str, Any], url: str
) -> None:
    client = api_client(hooks(settings, "hooks.example.com"))
    response = client.post("/v1/jobs", json={**spec, "callback_url": url})
    assert response.status_code == 422, response.get_json()
    assert "callback_url" in response.get_json()["error"]["fields"]


def finished_job_with_callback(store: JobStore, url: str) -> str:
    """A finished job whose callback URL is what a record could hold (however it got there)."""
    spec = dataclasses.replace(stored_spec(), callback_url=url)
    job_id = store.jobs.create("acme", spec)
    store.jobs.cancel(job_id)  # finished: its webhook is due
    return job_id


def test_a_delivery_that_raises_is_a_failed_attempt_and_gives_up(store: JobStore) -> None:
    job_id = finished_job_with_callback(store, "https://hooks.example.com/x\r\nX-Injected: 1")
    policy = DeliveryPolicy(allow_loopback=False, allow_private=False)
    assert deliver_job_webhook(store, job_id, SECRET, 2, policy) == DeliveryResult.RETRY_LATER
    webhook = store.jobs.get(job_id).webhook
    assert webhook is not None and webhook.status == WebhookStatus.PENDING
    assert webhook.attempts == 1 and webhook.last_error
    assert deliver_job_webhook(store, job_id, SECRET, 2, policy) == DeliveryResult.GAVE_UP
    webhook = store.jobs.get(job_id).webhook
    assert webhook is not None and webhook.status == WebhookStatus.FAILED
    assert job_id not in store.webhooks.due()


class Listener:
    """A TCP port on loopback that counts the connections it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    made = Listener()
    yield made
    made.sock.close()


def test_an_allowlisted_name_that_resolves_to_loopback_gets_no_connection(
    settings: Settings, store: JobStore, listener: Listener
) -> None:
    client = api_client(hooks(settings, "localhost"))
    url = f"https://localhost:{listener.port}/hook"
    response = client.post("/v1/jobs", json={**synthetic_spec(1, 0.0), "callback_url": url})
    assert response.status_code == 202, response.get_json()  # the name is allowlisted
    job_id = response.get_json()["id"]
    client.post(f"/v1/jobs/{job_id}/cancel")
    policy = DeliveryPolicy(allow_loopback=False, allow_private=False)
    assert deliver_job_webhook(store, job_id, SECRET, 3, policy) == DeliveryResult.RETRY_LATER
    webhook = store.jobs.get(job_id).webhook
    assert webhook is not None and "loopback" in (webhook.last_error or "")
    assert listener.accepted == 0


def test_delivery_looks_the_name_up_once_and_connects_to_that_address(
    settings: Settings, store: JobStore, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real = socket.getaddrinfo

    def counting(host: str, *args: Any, **kwargs: Any) -> Any:
        if not host.replace(".", "").isdigit():  # a name, not an address: a DNS lookup
            lookups.append(host)
        return real("127.0.0.1", *args, **kwargs)  # whatever the name, this address

    job_id = finished_job_with_callback(store, f"http://receiver.test:{listener.port}/hook")
    monkeypatch.setattr(socket, "getaddrinfo", counting)
    policy = DeliveryPolicy(allow_loopback=True, allow_private=False)
    deliver_job_webhook(store, job_id, SECRET, 3, policy)
    assert lookups == ["receiver.test"] and listener.accepted == 1
