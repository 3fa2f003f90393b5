"""Extending a finished job: ``POST /v1/jobs/{id}/extend`` reopens it with more trials.

A search that ended (its budget spent, its time up, or cancelled) often deserves a few more
trials once its results are in. Submitting a new job would start the search over; extending
continues it: the optimizer rebuilds from every trial the job has (it keeps no other state),
new trials are numbered after the old ones, and the refit and test score run again when the
extension ends. The same limits as a submission apply: trials per job, the tenant's unfinished
jobs and its compute for the day.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from service.api.auth import current_tenant
from service.api.errors import ApiError
from service.api.jobs import IDEMPOTENCY_KEY, job_for_caller, job_state, json_body
from service.api.schemas import ExtendRequestSchema
from service.core.records import JobRecord, JobStatus
from service.core.settings import Settings
from service.core.spec import Strategy
from service.core.spec.types import ValidationMethod
from service.core.store import JobStore, ReservationOutcome, body_hash
from service.core.store.usage import seconds_to_next_day
from service.dispatch import Dispatcher, QueueUnavailable

blueprint = Blueprint("extend", __name__, url_prefix="/v1/jobs")

# Strategies whose search has no end of its own: a grid ends with its grid, a range test is one
# trial.
EXTENDABLE = (Strategy.BAYESIAN, Strategy.RANDOM, Strategy.HYPERBAND, Strategy.BOHB)


@blueprint.post("/<job_id>/extend")
def extend_job(job_id: str) -> ResponseReturnValue:
    """Reopen a succeeded or cancelled job with ``trials`` more; 202 with the job, now
    ``running``. 409 while it is unfinished, when it failed, or when its strategy or its
    dataset cannot go on; 422 past the server's limits; 429 at the tenant's limits. With
    ``Idempotency-Key``, a retry (of a request whose answer was lost) answers as the first did
    instead of extending again."""
    job = job_for_caller(job_id)
    payload = json_body("the extension")
    body = ExtendRequestSchema().load(payload)
    store: JobStore = current_app.extensions["tuneq.store"]
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _extend(store, job, body)
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400, "bad_request", "Idempotency-Key must be 1-255 printable ASCII characters."
        )
    tenant, digest = current_tenant(), body_hash({"extend": job.id, "body": payload})
    reservation = store.idempotency.reserve(tenant, key, digest)
    if reservation.outcome == ReservationOutcome.MISMATCH:
        raise ApiError(409, "conflict", "This Idempotency-Key was used with another body.")
    if reservation.outcome == ReservationOutcome.PENDING:
        raise ApiError(
            409, "conflict", "A request with this Idempotency-Key is still being handled.",
            headers={"Retry-After": "1"},
        )  # fmt: skip
    if reservation.outcome == ReservationOutcome.REPLAY:
        return _view(job.id, {"Idempotent-Replayed": "true"})
    with store.idempotency.released_on_failure(tenant, key):
        answer = _extend(store, job, body)
    store.idempotency.complete(tenant, key, digest, job.id)
    return answer


def _extend(store: JobStore, job: JobRecord, body: dict[str, Any]) -> ResponseReturnValue:
    settings: Settings = current_app.config["TUNEQ_SETTINGS"]
    _check_can_go_on(store, job)
    trials = body["trials"]
    run_s = body.get("max_duration_s", job.spec.search.max_duration_s)
    _check_limits(store, settings, job, trials, run_s)
    reopened = store.jobs.extend(
        job.id,
        trials,
        most_trials=settings.max_trials_limit,
        run_s=run_s,
        max_active=settings.max_active_jobs_per_tenant,
    )
    if reopened.outcome == "status":
        _refuse_status(JobStatus(reopened.detail))
    if reopened.outcome == "finishing":
        raise ApiError(
            409, "conflict", "The job is still finishing (its refit or webhook); retry shortly.",
            headers={"Retry-After": reopened.detail},
        )  # fmt: skip
    if reopened.outcome == "trials":
        raise ValidationError(
            {"trials": [f"The job has {reopened.detail} trials; with {trials} more it would pass "
                        f"the limit of {settings.max_trials_limit} a job."]}
        )  # fmt: skip
    if reopened.outcome == "active":
        raise ApiError(
            429,
            "too_many_jobs",
            f"The tenant has {reopened.detail} unfinished jobs, the most allowed; wait for one "
            "to finish or cancel one.",
            headers={"Retry-After": "30"},
        )
    dispatcher: Dispatcher = current_app.extensions["tuneq.dispatcher"]
    with contextlib.suppress(QueueUnavailable):  # the sweep advances an idle active job anyway
        dispatcher.advance(job.id)
    return _view(job.id)


def _view(job_id: str, headers: dict[str, str] | None = None) -> ResponseReturnValue:
    """The job as ``GET`` shows it, with its ETag; 202."""
    body, tag, _ = job_state(job_id)
    headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache", **(headers or {})}
    return current_app.response_class(body + "\n", mimetype="application/json"), 202, headers


def _check_can_go_on(store: JobStore, job: JobRecord) -> None:
    """409 unless the job is finished in a way that more trials can follow."""
    if job.status != JobStatus.SUCCEEDED and job.status != JobStatus.CANCELLED:
        _refuse_status(job.status)
    strategy = job.spec.search.strategy
    if strategy not in EXTENDABLE:
        raise ApiError(
            409,
            "conflict",
            f"A {strategy.value} job has no more trials to run; submit a new job to search "
            "further.",
        )
    dataset = job.spec.dataset.id
    if dataset is not None and store.datasets.entry(current_tenant(), dataset) is None:
        raise ApiError(
            409, "conflict", f"The job's dataset {dataset} was deleted; it cannot run more trials."
        )


def _refuse_status(status: JobStatus) -> None:
    if status == JobStatus.FAILED:
        message = "The job failed; fix what its error says and submit a new job."
    else:
        message = f"The job is {status.value}; extend it once it has finished."
    raise ApiError(409, "conflict", message)


def _check_limits(
    store: JobStore, settings: Settings, job: JobRecord, trials: int, run_s: float | None
) -> None:
    """The per-job limits a submission is held to, for the extension alone; then the tenant's
    compute for the day."""
    limits = settings.spec_limits()
    problems: dict[str, list[str]] = {}
    if run_s is not None and run_s > limits.max_duration_s:
        problems["max_duration_s"] = [f"Must be at most {limits.max_duration_s:g}."]
    validation = job.spec.training.validation
    folds = validation.folds if validation.method == ValidationMethod.KFOLD else 1
    most = trials * job.spec.training.max_epochs * folds
    if limits.trial_epochs_per_day and most > limits.trial_epochs_per_day:
        problems["trials"] = [
            f"These trials may train up to {most:,} trial-epochs (trials x max_epochs x folds); "
            f"a tenant may use {limits.trial_epochs_per_day:,} a day. Ask for fewer trials."
        ]
    if problems:
        raise ValidationError(problems)
    budget = settings.tenant_trial_epochs_per_day
    if budget and (used := store.usage.today(job.tenant)) >= budget:
        raise ApiError(
            429,
            "compute_budget",
            f"The tenant used {used:,} of its {budget:,} trial-epochs for today "
            "(TUNEQ_TENANT_TRIAL_EPOCHS_PER_DAY); extensions wait until midnight UTC.",
            headers={"Retry-After": str(seconds_to_next_day())},
        )
