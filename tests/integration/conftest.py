"""Real processes: a ``redis-server`` on a free port and ``celery worker`` subprocesses."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from service.core.settings import Settings
from service.core.store import JobStore, connect
from service.devstack import free_port, settings_env, start_redis, stop_process, worker_command


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
    return Settings(redis_url=redis_server, trial_lease_s=30, visibility_timeout_s=600)


@pytest.fixture
def store(settings: Settings) -> JobStore:
    return JobStore(connect(settings.redis_url))


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
