"""The Python client rides out what CI networks do: a 503 while the server's Redis restarts,
and a dropped connection while the API server itself is down, both with real servers stopped
and started again; and a retried submit never creates a second job."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from service.client import Client, ConnectionFailed, Unavailable
from service.core.settings import Settings
from service.devstack import free_port, start_redis, stop_process
from tests.helpers import LiveApi

pytestmark = pytest.mark.integration


def later(seconds: float, action: Any) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.start()
    return thread


def test_retries_a_503_until_redis_is_back(
    settings: Settings, spec: dict[str, Any], tmp_path: Path
) -> None:
    port = free_port()
    data = tmp_path / "redis"
    redis_proc = start_redis(port, data)
    own = dataclasses.replace(
        settings, redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=0.5
    )
    api = LiveApi(own).start()
    try:
        client = Client(api.url, api_key=api.key, retries=8, backoff_s=0.2)
        job = client.submit(spec)
        stop_process(redis_proc)  # the store goes away: the API answers 503
        with pytest.raises(Unavailable):
            Client(api.url, api_key=api.key, retries=0).get(job.id)
        restarted: list[Any] = []
        thread = later(1.5, lambda: restarted.append(start_redis(port, data)))
        assert client.get(job.id).id == job.id  # retried until Redis was back
        thread.join()
        redis_proc = restarted[0]
    finally:
        api.stop()
        stop_process(redis_proc)


def test_retries_a_dropped_connection_until_the_api_is_back(
    settings: Settings, spec: dict[str, Any]
) -> None:
    api = LiveApi(settings).start()
    client = Client(api.url, api_key=api.key, retries=8, backoff_s=0.2)
    job = client.submit(spec)
    api.stop()
    with pytest.raises(ConnectionFailed):
        Client(api.url, api_key=api.key, retries=0).get(job.id)
    thread = later(1.5, api.start)
    try:
        assert client.get(job.id).status == "queued"
        thread.join()
        again = client.submit(spec, idempotency_key="same-key")
        assert client.submit(spec, idempotency_key="same-key").id == again.id
    finally:
        thread.join()
        api.stop()
