"""``tuneq dev`` and ``tuneq demo`` as a user runs them: embedded Redis when none answers, a
job over real HTTP, Ctrl-C stopping every process it started, a quiet first run."""

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
import redis

from service.client import Client, ConnectionFailed, Unauthorized
from service.core import keys
from service.core.store import JobStore
from service.devstack import free_port, redis_reachable, start_redis, stop_process
from tests.helpers import alive

pytestmark = pytest.mark.integration


def start_dev(env: dict[str, str], port: int, out_path: Path) -> subprocess.Popen[bytes]:
    """``tuneq dev`` in its own process group, once its API answers."""
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "dev", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while "API on" not in out_path.read_text():
        assert proc.poll() is None, out_path.read_text()
        assert time.monotonic() < deadline, out_path.read_text()
        time.sleep(0.1)
    return proc


def test_dev_stack_with_embedded_redis(tmp_path: Path, spec: dict[str, Any]) -> None:
    """Also after an upgrade: the embedded Redis keeps its data between runs, and with it the
    broker-options fingerprint of the version that ran before, which every process of this
    version would refuse."""
    earlier = start_redis(port := free_port(), tmp_path / "tuneq" / "redis")
    redis.Redis(port=port).set(keys.broker_options(), "the options of an earlier version")
    stop_process(earlier)
    api_port = free_port()
    env = {
        **os.environ,
        "TUNEQ_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "XDG_DATA_HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    out_path = tmp_path / "dev.out"
    proc = start_dev(env, api_port, out_path)
    try:
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


def test_the_demo_shows_progress_and_result_and_its_job_stays_visible(
    settings: Any, store: JobStore, tmp_path: Path
) -> None:
    """Items 11 and 12 of issue 18: the worker's banner and TensorFlow's lines go to a log named
    in the output; the job is the ``default`` tenant's, so the commands the demo suggests (after
    ``tuneq dev``) find it; no API key is left behind."""
    env = {
        **os.environ,
        "TUNEQ_REDIS_URL": settings.redis_url,
        "XDG_DATA_HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    keys = len(store.api_keys.list())
    demo = subprocess.run(
        [sys.executable, "-m", "service.cli", "demo", "--trials", "2", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    shown = demo.stdout + demo.stderr
    for noise in ("celery@", "absl", "oneDNN", "retracing", "Traceback", "[tasks]", "WARNING"):
        assert noise not in shown, (noise, shown)
    log = tmp_path / "tuneq" / "demo.log"
    assert f"Worker log: {log}" in demo.stdout
    assert "celery@" in log.read_text()  # the banner went there
    assert "authentication is OFF" in log.read_text()  # and the API's warning
    job_id = re.search(r"Submitted job (\w{32})", demo.stdout).group(1)  # type: ignore[union-attr]
    best = re.search(r"Best trial: number (\d) of 2 \(numbered from 0\)", demo.stdout)
    assert best, demo.stdout
    assert store.jobs.get(job_id).tenant == "default"
    assert len(store.api_keys.list()) == keys

    dev = start_dev(env, port := free_port(), tmp_path / "dev.out")
    try:
        client = Client(f"http://127.0.0.1:{port}")
        assert client.get(job_id).best.trial == int(best.group(1))  # type: ignore[union-attr]
        trials = subprocess.run(
            [sys.executable, "-m", "service.cli", "trials", job_id],
            env={**env, "TUNEQ_URL": f"http://127.0.0.1:{port}"},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert trials.returncode == 0, trials.stderr
        assert [line.split()[0] for line in trials.stdout.splitlines()[1:]] == ["0", "1"]
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(timeout=60)
