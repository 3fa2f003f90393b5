"""The stack an attacker meets: ``tuneq api`` under gunicorn (as deployed: 2 processes of 8
threads) on a real Redis, with keys of two tenants, A (the attacker) and B (the bystander)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from service.core.store import JobStore, connect
from service.devstack import free_port, settings_env
from tests.security.wire import request


@dataclasses.dataclass
class Api:
    url: str
    key_a: str
    key_b: str
    proc: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        """The pids of gunicorn's worker processes."""
        path = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        with open(path) as handle:
            return [int(pid) for pid in handle.read().split()]


@pytest.fixture
def start_api(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Starts ``tuneq api`` with the test settings (``changes`` replace some)."""
    started: list[Api] = []

    def start(**changes: Any) -> Api:
        chosen = dataclasses.replace(settings, **changes)
        port = free_port()
        env = settings_env(chosen)
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = tmp_path / f"api-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "api", "--bind", f"127.0.0.1:{port}",
                 "--workers", "2", "--threads", "8"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        store = JobStore(connect(chosen.redis_url))
        api = Api(
            f"http://127.0.0.1:{port}",
            store.api_keys.create("tenant-a")[1],
            store.api_keys.create("tenant-b")[1],
            proc,
            log,
        )
        started.append(api)
        deadline = time.monotonic() + 60
        while True:
            try:
                if request(api.url, "GET", "/healthz", timeout=2)[0] == 200:
                    return api
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

    yield start
    for api in started:
        os.killpg(api.proc.pid, signal.SIGTERM)
        try:
            api.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(api.proc.pid, signal.SIGKILL)
            api.proc.wait()
