"""gunicorn settings for ``tuneq api``: threaded workers (long polls and event streams hold a
thread, not a process), and request metrics shared across worker processes."""

from __future__ import annotations

from typing import Any

# Imported here, in the master as it reads this file, not inside child_exit: the hook runs from
# a SIGCHLD handler, and a first import there can interrupt the master's own half-done import of
# prometheus_client and fail with a circular-import error.
from prometheus_client import multiprocess

worker_class = "gthread"
graceful_timeout = 30
accesslog = "-"


def child_exit(server: Any, worker: Any) -> None:
    """Drop a finished worker's live gauges from the shared metrics directory."""
    multiprocess.mark_process_dead(worker.pid)
