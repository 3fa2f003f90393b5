"""Thin Celery tasks: each calls the engine and sends the follow-up tasks.

The engine modules that train are imported inside the tasks so the Celery parent process never
loads the ML stack (only its forked children do).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import socket
import time

from celery import Task

from service.core.contract import (
    TASK_ADVANCE,
    TASK_FINALIZE,
    TASK_IMPORTANCE,
    TASK_REFILL,
    TASK_RUN_TRIAL,
    TASK_SWEEP,
    TASK_WEBHOOK,
)
from service.core.records import ACTIVE, JobStatus
from service.core.store import JobNotFound, JobStore, StoreUnavailable
from worker.celery_app import app, settings

log = logging.getLogger(__name__)

_RETRY = {
    "autoretry_for": (StoreUnavailable,),
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": None,
}


@functools.cache
def job_store() -> JobStore:
    return JobStore.from_url(settings.redis_url, retention_s=settings.job_retention_s)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def send_trial(job_id: str, number: int, time_limit_s: float | None = None) -> None:
    """Queue a trial; Celery's own hard limit is a backstop behind the trial's watchdog."""
    limit = (time_limit_s or settings.max_trial_time_s) + 2 * settings.trial_lease_s
    run_trial.apply_async(args=(job_id, number), time_limit=limit)


def _end_unschedulable(store: JobStore, job_id: str, step: str, exc: Exception) -> None:
    """A scheduling step hit a bug or a spec the engine cannot search: the job ends, failed
    with the reason, rather than stalling."""
    log.exception("%s: job %s cannot continue", step, job_id)
    store.jobs.set_status(job_id, JobStatus.FAILED, ACTIVE, error=f"scheduling failed: {exc}")


@app.task(name=TASK_ADVANCE, bind=True, **_RETRY)
def advance(self: Task, job_id: str) -> None:
    """Schedule the job's next trials, or its finalization once the budget is spent."""
    from worker.engine.scheduler import advance_job

    store = job_store()
    started = time.perf_counter()
    try:
        step = advance_job(
            store,
            job_id,
            finalize_lease_s=settings.max_trial_time_s,
            send_trial=lambda number, limit: send_trial(job_id, number, limit),
            daily_compute=settings.tenant_trial_epochs_per_day,
            send_refill=lambda token: refill.apply_async(args=(job_id, token)),
        )
    except JobNotFound:
        log.warning("advance: job %s is gone", job_id)
        return
    except StoreUnavailable:
        raise  # retried with backoff
    except Exception as exc:  # a bug or a spec the engine cannot search: end the job, visibly
        _end_unschedulable(store, job_id, "advance", exc)
        return
    if step.busy:
        raise self.retry(countdown=0.2)
    store.jobs.record_advance(job_id, time.perf_counter() - started)
    if step.finalize:
        finalize.apply_async(args=(job_id,))


@app.task(name=TASK_REFILL, **_RETRY)
def refill(job_id: str, token: str) -> None:
    """Make a parallel Bayesian job's next suggestions ahead of need (the surrogate fit that
    ``advance`` no longer waits for), then let the job advance to hand them out."""
    from worker.engine.scheduler import refill_job

    store = job_store()
    started = time.perf_counter()
    try:
        made = refill_job(store, job_id)
    except JobNotFound:
        return
    except StoreUnavailable:
        raise  # retried with backoff; the lock is released below if Redis answers, and a
        # second refill meanwhile is harmless (each replaces the stored points whole)
    except Exception as exc:  # a bug: end the job visibly rather than stall it
        _end_unschedulable(store, job_id, "refill", exc)
        return
    finally:
        with contextlib.suppress(StoreUnavailable):
            store.ahead.release_refill(job_id, token)
    if made:
        seconds = time.perf_counter() - started
        log.info("refill: %d points in %.3f s", made, seconds)
        store.jobs.record_advance(job_id, seconds, refill=True)
        advance.apply_async(args=(job_id,))


@app.task(name=TASK_RUN_TRIAL, bind=True, **_RETRY)
def run_trial(self: Task, job_id: str, number: int) -> None:
    """Train one trial (if this delivery gets to claim it), then let the job advance.

    A delivery that finds the trial under a live lease comes back once the lease could have
    expired: either its holder finished it by then, or the holder died (a killed pool child
    makes Celery redeliver at once) and this delivery takes it over. A trial preempted by this
    worker's shutdown is queued again before this delivery is acknowledged.
    """
    from worker.engine.runner import Execution, TrialPolicy, execute_trial

    policy = TrialPolicy(
        settings.trial_lease_s,
        settings.max_attempts,
        settings.max_trial_time_s,
        settings.max_model_params,
    )
    try:
        execution = execute_trial(job_store(), job_id, number, worker_name(), policy)
    except JobNotFound:
        log.warning("run_trial: job %s is gone", job_id)
        return
    if execution == Execution.BUSY:
        raise self.retry(countdown=settings.trial_lease_s)
    if execution == Execution.PREEMPTED:
        send_trial(job_id, number)
        return
    advance.apply_async(args=(job_id,))


@app.task(name=TASK_FINALIZE, **_RETRY)
def finalize(job_id: str) -> None:
    """Refit the best trial, score it on the test set, and mark the job finished."""
    from worker.engine.runner import finalize_job

    if not job_store().jobs.finalizing(job_id):
        log.info("finalize: job %s holds no finalization lease (finished, or reopened)", job_id)
        return
    try:
        finalize_job(
            job_store(),
            job_id,
            max_model_bytes=settings.max_model_bytes,
            lease_s=settings.max_trial_time_s,
        )
    except JobNotFound:
        log.warning("finalize: job %s is gone", job_id)
        return
    deliver_webhook.apply_async(args=(job_id,))
    compute_importance.apply_async(args=(job_id,))  # for the final report


@app.task(name=TASK_WEBHOOK, **_RETRY)
def deliver_webhook(job_id: str) -> None:
    """POST a finished job's result to its callback URL (one attempt; the sweep retries)."""
    from worker.engine.webhooks import DeliveryPolicy, deliver_job_webhook

    policy = DeliveryPolicy(
        allow_loopback=settings.webhook_allow_http_loopback,
        allow_private=settings.webhook_allow_private_addresses,
    )
    try:
        result = deliver_job_webhook(
            job_store(), job_id, settings.webhook_secret, settings.webhook_max_attempts, policy
        )
    except JobNotFound:
        return
    log.info("webhook for job %s: %s", job_id, result)


@app.task(name=TASK_IMPORTANCE, **_RETRY)
def compute_importance(job_id: str) -> None:
    """The job's hyperparameter importance at its current version, for the API to serve."""
    from worker.engine.importance import importance

    store = job_store()
    try:
        job = store.jobs.get(job_id)
    except JobNotFound:
        return
    version = job.render_version
    if store.renders.get(job_id, "importance", version) is None:
        found = importance(job.spec, store.trials.list(job_id))
        store.renders.put(job_id, "importance", version, json.dumps(found).encode())


@app.task(name=TASK_SWEEP, **_RETRY)
def sweep() -> None:
    """Recover what crashes left behind: expired leases, lost messages, stalled jobs."""
    from worker.engine.sweeper import sweep_jobs

    store = job_store()
    if not store.locks.sweep(worker_name(), ttl_s=settings.sweep_interval_s):
        return  # another sweep (a second beat) is at it
    plan = sweep_jobs(store, settings.requeue_after_s)
    for job_id, number in plan.run_trials:
        log.info("sweep: re-sending trial %s/%s", job_id, number)
        send_trial(job_id, number)
    for job_id in plan.advance_jobs:
        advance.apply_async(args=(job_id,))
    for job_id in store.webhooks.due():
        deliver_webhook.apply_async(args=(job_id,))
