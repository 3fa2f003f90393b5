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
import threading
import time
from typing import Any

from celery import Celery
from celery.platforms import EX_OK
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    beat_embedded_init,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_ready,
    worker_shutting_down,
)
from celery.worker import state as worker_state

from service.core import keys
from service.core.contract import (
    QUEUE_CONTROL,
    TASK_RUN_TRIAL,
    celery_config,
    check_celery_config,
    options_fingerprint,
)
from service.core.logs import log_context, style
from service.core.settings import Settings
from service.core.store import HEARTBEAT_S, JobStore
from worker import plugins

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
log = logging.getLogger(__name__)

PREEMPT_SIGNAL = signal.SIGUSR2

settings = Settings.from_env()
app = Celery("tuneq")
app.conf.update(celery_config(settings))
app.conf.include = ["worker.tasks"]
check_celery_config(app.conf, settings)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _format_logs(logger: logging.Logger, **_: Any) -> None:
    """Celery's own handlers in tuneq's format (JSON with job and trial ids, when set)."""
    if settings.log_format == "json":
        for handler in logger.handlers:
            style(handler, "json")


_LOG_CONTEXTS: dict[str, contextlib.AbstractContextManager[None]] = {}


@task_prerun.connect
def _enter_log_context(task_id: str = "", task: Any = None, args: Any = (), **_: Any) -> None:
    """Every line a task logs carries its job id (and trial number)."""
    fields: dict[str, Any] = {}
    if args:
        fields["job_id"] = args[0]
    if task is not None and task.name == TASK_RUN_TRIAL and len(args) > 1:
        fields["trial"] = args[1]
    context = log_context(**fields)
    context.__enter__()
    _LOG_CONTEXTS[task_id] = context


@task_postrun.connect
def _exit_log_context(task_id: str = "", **_: Any) -> None:
    context = _LOG_CONTEXTS.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)


@worker_init.connect
def _check_shared_options(**_: Any) -> None:
    """Fail fast when the API or other workers run with other broker options."""
    key, mine = keys.broker_options(), options_fingerprint(app.conf)
    theirs = JobStore.from_url(settings.redis_url).fleet.shared_fingerprint(mine)
    if theirs != mine:  # SystemExit: Celery logs and swallows ordinary errors from signals
        raise SystemExit(
            f"this worker's Celery options differ from the deployment's ({key} holds "
            f"{theirs}, this worker has {mine}); deploy the same settings everywhere, or "
            f"delete {key} once every process runs the new ones"
        )


@worker_init.connect
def _load_the_optimizer(sender: Any = None, **_: Any) -> None:
    """A control worker loads scikit-optimize before forking its pool: its children then
    start with it, and a refill of Bayesian suggestions does not pay a second or two of
    imports in every new child (children are recycled every ``worker_max_tasks_per_child``).
    The one library it loads that starts threads, OpenBLAS, stops its pool before a fork
    (``pthread_atfork``) and starts it again where it is needed; TensorFlow stays out."""
    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", None) or {}
    if QUEUE_CONTROL in queues:
        import worker.engine.skopt_compat  # noqa: F401  (skopt, scikit-learn, SciPy)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    """Tell the API this worker is alive (``/readyz``): a heartbeat every few seconds."""
    hostname = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    fleet = JobStore.from_url(settings.redis_url).fleet
    families = plugins.offers()  # the operators' families this worker serves, published too

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # Redis away: the next beat tries again
                fleet.heartbeat(hostname)
                fleet.offer_families(hostname, families)
            time.sleep(HEARTBEAT_S)

    threading.Thread(target=beat, name="tuneq-heartbeat", daemon=True).start()


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
    preemption of the running trial. (A ``--once`` worker runs its task in its own process,
    which has no worker parent to die with.)"""
    if settings.worker_once:
        return
    _die_with_parent()
    from worker.engine.runner import PREEMPT

    signal.signal(PREEMPT_SIGNAL, lambda signum, frame: PREEMPT.set())


@task_postrun.connect
def _stop_after_one_task(**_: Any) -> None:
    """A ``--once`` worker stops after its task (acknowledged first): a warm shutdown, which
    hands back any message it had taken meanwhile."""
    if settings.worker_once:
        worker_state.should_stop = EX_OK


@worker_shutting_down.connect
def _preempt_running_trials(**_: Any) -> None:
    """On SIGTERM (warm shutdown) tell the pool children to hand their trials back now,
    instead of finishing them or waiting out the broker's visibility timeout. A ``--once``
    worker finishes its trial instead: the autoscaler never stops one that runs a trial, so
    SIGTERM means a node drain, and the trial is worth its grace period."""
    if settings.worker_once:
        return
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
