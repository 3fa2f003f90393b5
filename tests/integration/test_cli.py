"""``tuneq dev`` as a user runs it: embedded Redis when none answers, a job over real HTTP,
and Ctrl-C stopping every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from service.client import Client, ConnectionFailed, Unauthorized
from service.devstack import free_port, redis_reachable
from tests.helpers import alive

pytestmark = pytest.mark.integration


def test_dev_stack_with_embedded_redis(tmp_path: Path, spec: dict[str, Any]) -> None:
    api_port = free_port()
    env = {
        **os.environ,
        "TUNEQ_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "XDG_DATA_HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    out_path = tmp_path / "dev.out"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "dev", "--port", str(api_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "API on" not in out_path.read_text():
            assert proc.poll() is None, out_path.read_text()
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.1)
        match = re.search(r"Redis (redis://\S+?)\)", out_path.read_text())
        assert match, out_path.read_text()
        redis_url = match.group(1)
        assert redis_url != env["TUNEQ_REDIS_URL"] and redis_reachable(redis_url)
        assert (tmp_path / "tuneq" / "redis").is_dir()  # embedded data in the user data dir

        spec["search"] = {"strategy": "random", "max_trials": 2, "seed": 3}
        client = Client(f"http://127.0.0.1:{api_port}")
        job = client.wait(client.submit(spec).id, timeout_s=180)
        assert job.status == "succeeded", job
        assert len(client.trials(job.id)) == 2
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        code = proc.wait(timeout=60)
    assert code == 0, out_path.read_text()[-3000:]
    assert not redis_reachable(redis_url)
    deadline = time.monotonic() + 15  # children of the stopped worker may take a moment
    while leftovers := live_group_members(proc.pid):
        assert time.monotonic() < deadline, f"processes left behind: {leftovers}"
        time.sleep(0.2)


def live_group_members(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies awaiting a reaper do not count)."""
    out = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout
    return [pid for pid in map(int, out.split()) if alive(pid)]


def test_api_under_gunicorn(settings: Any, tmp_path: Path) -> None:
    """``tuneq api`` as deployed: gunicorn processes, keys checked, metrics shared, clean stop."""
    from service.core.store import JobStore, connect

    port = free_port()
    env = {**os.environ, "TUNEQ_REDIS_URL": settings.redis_url, "TUNEQ_LOG_FORMAT": "json"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "api.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "api", "--bind", f"127.0.0.1:{port}",
             "--workers", "2"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _, secret = JobStore(connect(settings.redis_url)).api_keys.create("acme")
        client = Client(f"http://127.0.0.1:{port}", api_key=secret, retries=0)
        deadline = time.monotonic() + 60
        while True:
            try:
                assert client._json("GET", "/healthz") == {"status": "ok"}
                break
            except ConnectionFailed:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        for _ in range(6):  # spread over both processes
            assert client._json("GET", "/v1/jobs") == {"jobs": [], "next_cursor": None}
        import urllib.request

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        count = re.search(
            r'tuneq_api_request_seconds_count\{method="GET",route="/v1/jobs",status="200"\} (\S+)',
            metrics,
        )
        assert count and float(count.group(1)) == 6, metrics[-2000:]
        with pytest.raises(Unauthorized):
            Client(f"http://127.0.0.1:{port}", api_key="tq_wrong").datasets()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0, log_path.read_text()[-3000:]
