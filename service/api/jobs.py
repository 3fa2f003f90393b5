"""The jobs resource: submit a tuning job, read its status, best result and trials."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from redis import RedisError

from service.api.errors import ApiError
from service.api.views import job_view, trial_view
from service.core.records import JobRecord, JobStatus
from service.core.spec import JobSpec, SpecLimits, load_spec
from service.core.store import JobNotFound, JobStore
from service.dispatch import Dispatcher

blueprint = Blueprint("jobs", __name__, url_prefix="/v1/jobs")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
DEFAULT_TENANT = "default"


def _store() -> JobStore:
    return current_app.extensions["tuneq.store"]


def _dispatcher() -> Dispatcher:
    return current_app.extensions["tuneq.dispatcher"]


def _json_body() -> Any:
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(400, "bad_request", "A JSON body is required.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_request", f"The body is not valid JSON: {exc}"[:300]) from None


def _tenant() -> str:
    return DEFAULT_TENANT


def _job(job_id: str) -> JobRecord:
    """The caller's job, or 404 (also for malformed ids and other tenants' jobs)."""
    if not _JOB_ID.match(job_id):
        raise JobNotFound(job_id)
    job = _store().get_job(job_id)
    if job.tenant != _tenant():
        raise JobNotFound(job_id)
    return job


@blueprint.post("")
def submit_job() -> ResponseReturnValue:
    settings = current_app.config["TUNEQ_SETTINGS"]
    limits = SpecLimits(
        max_trials=settings.max_trials_limit,
        max_epochs=settings.max_epochs_limit,
        max_parallelism=settings.max_parallelism_limit,
        max_trial_time_s=settings.max_trial_time_s,
        allow_synthetic=settings.allow_synthetic,
        max_model_params=settings.max_model_params,
    )
    spec = load_spec(_json_body(), limits)
    store = _store()
    _check_warm_start(store, spec)
    job_id = store.create_job(
        tenant=_tenant(),
        name=spec.name,
        spec=spec.to_dict(),
        max_trials=spec.search.max_trials,
        direction=spec.training.objective.direction,
        max_duration_s=spec.search.max_duration_s,
    )
    try:
        _dispatcher().check_shared_options(store.redis)
        _dispatcher().advance(job_id)
    except Exception as exc:  # the broker refused: do not leave a job nobody will run
        with contextlib.suppress(RedisError):
            store.delete_job(job_id)
        raise ApiError(
            503,
            "unavailable",
            "The task queue is unavailable; retry shortly.",
            headers={"Retry-After": "5"},
        ) from exc
    location = f"/v1/jobs/{job_id}"
    body = {"id": job_id, "status": "queued", "links": {"self": location}}
    return jsonify(body), 202, {"Location": location}


def _check_warm_start(store: JobStore, spec: JobSpec) -> None:
    """Each warm-start job must be the caller's, finished, and have searched the same names."""
    problems: dict[str, list[str]] = {}
    for i, job_id in enumerate(spec.search.warm_start):
        path = f"search.warm_start.{i}"
        try:
            earlier = _job(job_id)
        except JobNotFound:
            problems[path] = ["No such job."]
            continue
        if not earlier.status.is_finished:
            problems[path] = [f"The job is {earlier.status.value}; warm start from finished jobs."]
        elif set(earlier.spec.get("search_space", {})) != set(spec.search_space):
            problems[path] = ["Its search space has other hyperparameters; it is not compatible."]
    if problems:
        raise ApiError(422, "validation_error", "The job spec is invalid.", fields=problems)


@blueprint.get("/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    job = _job(job_id)
    best = _store().get_trial(job.id, job.best_trial) if job.best_trial is not None else None
    return jsonify(job_view(job, best))


@blueprint.get("/<job_id>/trials")
def list_trials(job_id: str) -> ResponseReturnValue:
    job = _job(job_id)
    trials = _store().list_trials(job.id)
    return jsonify({"job_id": job.id, "trials": [trial_view(t) for t in trials]})


@blueprint.get("/<job_id>/model")
def download_model(job_id: str) -> ResponseReturnValue:
    """The refit best model as a ``.keras`` file (feature scaling built in, no optimizer)."""
    job = _job(job_id)
    data = _store().get_model(job.id)
    if data is None:
        message = (
            "The job has no model yet; it is kept once the job succeeds."
            if not job.status.is_finished
            else "This job has no model (it did not succeed, or the model was over the size limit)."
        )
        raise ApiError(404, "not_found", message)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", job.name)[:100] or "model"
    return (
        data,
        200,
        {
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{name}-{job.id[:8]}.keras"',
        },
    )


@blueprint.post("/<job_id>/cancel")
def cancel_job(job_id: str) -> ResponseReturnValue:
    """Stop the job: nothing new starts, running trials stop at their next batch.

    Idempotent: cancelling a cancelled job answers 200 again; a job that already succeeded or
    failed answers 409.
    """
    job = _job(job_id)
    status = _store().cancel_job(job.id)
    if status != JobStatus.CANCELLED:
        raise ApiError(409, "conflict", f"The job already {status.value}; nothing to cancel.")
    return get_job(job.id)
