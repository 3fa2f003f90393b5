"""Shared fixtures: fixed seeds, a valid spec to derive others from, and real processes
(a ``redis-server`` on a free port, ``celery worker`` subprocesses) for the tests that need them.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from service.core.settings import Settings
from service.core.store import JobStore, connect
from service.devstack import free_port, settings_env, start_redis, stop_process, worker_command
from tests.helpers import VALID_SPEC, Workers

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(0)
    np.random.seed(0)


@pytest.fixture
def spec() -> dict[str, Any]:
    """A fresh deep copy of a valid spec for a test to change."""
    return copy.deepcopy(VALID_SPEC)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    port = free_port()
    proc = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(proc)


@pytest.fixture
def settings(redis_server: str) -> Settings:
    redis.Redis.from_url(redis_server).flushdb()
    return Settings(
        redis_url=redis_server,
        trial_lease_s=30,
        visibility_timeout_s=600,
        max_trial_time_s=300,
        allow_synthetic=True,
    )


@pytest.fixture
def store(settings: Settings) -> JobStore:
    return JobStore(connect(settings.redis_url))


@pytest.fixture
def redis_client(settings: Settings) -> redis.Redis:
    """A plain client, for checking what Redis itself holds (key names, expiry)."""
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One Celery worker (prefork, one child) consuming both queues; its log is kept."""
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            worker_command(loglevel="INFO", hostname=f"test-{free_port()}@%h"),
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            stop_process(proc)
            print("---- worker log (tail) ----")
            print(log_path.read_text(errors="replace")[-4000:])


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """Leases and the sweep run fast (a 2-second lease, a 1-second sweep) so that recovery
    shows in seconds; the protocol is the same as in production."""
    return dataclasses.replace(
        settings,
        trial_lease_s=2,
        sweep_interval_s=1,
        requeue_after_s=5,
        max_trial_time_s=60,
        max_attempts=3,
    )


@pytest.fixture
def workers(fast_settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(fast_settings, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()
