"""The worker's Celery app: configuration from the shared contract, and process hygiene.

Importing this module must stay cheap and must not import TensorFlow: Celery's prefork pool
forks children from this process, and TensorFlow does not survive a fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
from typing import Any

from celery import Celery
from celery.signals import (
    beat_embedded_init,
    worker_init,
    worker_process_init,
    worker_shutting_down,
)

from service.core import keys
from service.core.contract import celery_config, check_celery_config, options_fingerprint
from service.core.settings import Settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
log = logging.getLogger(__name__)

PREEMPT_SIGNAL = signal.SIGUSR2

settings = Settings.from_env()
app = Celery("tuneq")
app.conf.update(celery_config(settings))
app.conf.include = ["worker.tasks"]
check_celery_config(app.conf, settings)


@worker_init.connect
def _check_shared_options(**_: Any) -> None:
    """Fail fast when the API or other workers run with other broker options."""
    from service.core.store import connect

    client = connect(settings.redis_url)
    key, mine = keys.broker_options(), options_fingerprint(app.conf)
    client.set(key, mine, nx=True)
    theirs = client.get(key)
    if theirs != mine:  # SystemExit: Celery logs and swallows ordinary errors from signals
        raise SystemExit(
            f"this worker's Celery options differ from the deployment's ({key} holds "
            f"{theirs}, this worker has {mine}); deploy the same settings everywhere, or "
            f"delete {key} once every process runs the new ones"
        )


def _die_with_parent() -> None:
    """A child of a killed worker must not live on: a dead node leaves no orphan training."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


@beat_embedded_init.connect
def _init_embedded_beat(**_: Any) -> None:
    _die_with_parent()


@worker_process_init.connect
def _init_pool_process(**_: Any) -> None:
    """In each pool child: die with the parent, and turn the parent's shutdown notice into a
    preemption of the running trial."""
    _die_with_parent()
    from worker.engine.runner import PREEMPT

    signal.signal(PREEMPT_SIGNAL, lambda signum, frame: PREEMPT.set())


@worker_shutting_down.connect
def _preempt_running_trials(**_: Any) -> None:
    """On SIGTERM (warm shutdown) tell the pool children to hand their trials back now,
    instead of finishing them or waiting out the broker's visibility timeout."""
    for pid in _pool_children():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, PREEMPT_SIGNAL)


def _pool_children() -> list[int]:
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        from billiard.process import active_children

        return [child.pid for child in active_children() if child.pid]
