"""gunicorn settings for ``tuneq api``: threaded workers (long polls and event streams hold a
thread, not a process), and request metrics shared across worker processes."""

from __future__ import annotations

from typing import Any

worker_class = "gthread"
graceful_timeout = 30
accesslog = "-"


def child_exit(server: Any, worker: Any) -> None:
    """Drop a finished worker's live gauges from the shared metrics directory."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
