"""The jobs resource: submit a tuning job, read its status, best result and trials."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate
from redis import RedisError

from service.api.datasets import tenant_lookup
from service.api.errors import ApiError
from service.api.views import job_summary, job_view, trial_view
from service.auth import current_tenant, key_to_check, tenant_from_read
from service.core.idempotency import IdempotencyKeys, body_hash
from service.core.records import JobRecord, JobStatus
from service.core.spec import JobSpec, SpecLimits, load_spec
from service.core.store import JobNotFound, JobStore
from service.dispatch import Dispatcher

blueprint = Blueprint("jobs", __name__, url_prefix="/v1/jobs")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_WAIT_S = 60.0  # the longest a long poll may wait
POLL_S = 0.25  # how often a long poll looks again
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


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


def job_for_caller(job_id: str) -> JobRecord:
    """The caller's job, or 404 (also for malformed ids and other tenants' jobs)."""
    if not _JOB_ID.match(job_id):
        raise JobNotFound(job_id)
    job = _store().get_job(job_id)
    if job.tenant != current_tenant():
        raise JobNotFound(job_id)
    return job


@blueprint.post("")
def submit_job() -> ResponseReturnValue:
    """Validate and enqueue a job. With ``Idempotency-Key``, a retry returns the same job."""
    payload = _json_body()
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return _submit(payload)
    if not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400, "bad_request", "Idempotency-Key must be 1-255 printable ASCII characters."
        )
    tenant, digest = current_tenant(), body_hash(payload)
    ledger = IdempotencyKeys(_store().redis)
    reservation = ledger.reserve(tenant, key, digest)
    if reservation.outcome == "mismatch":
        raise ApiError(
            409, "conflict", "This Idempotency-Key was used with another body; use a new key."
        )
    if reservation.outcome == "pending":
        raise ApiError(
            409,
            "conflict",
            "A request with this Idempotency-Key is still being handled; retry shortly.",
            headers={"Retry-After": "1"},
        )
    if reservation.outcome == "replay":
        job_id = str(reservation.job_id)
        location = f"/v1/jobs/{job_id}"
        body = {"id": job_id, "status": _status_or_gone(job_id), "links": {"self": location}}
        return jsonify(body), 202, {"Location": location, "Idempotent-Replayed": "true"}
    try:
        response = _submit(payload)
    except BaseException:
        with contextlib.suppress(RedisError):
            ledger.release(tenant, key)
        raise
    ledger.complete(tenant, key, digest, response[0].get_json()["id"])
    return response


def _status_or_gone(job_id: str) -> str:
    try:
        return _store().get_job(job_id).status.value
    except JobNotFound:
        return "deleted"


def _submit(payload: Any) -> tuple[Response, int, dict[str, str]]:
    settings = current_app.config["TUNEQ_SETTINGS"]
    limits = SpecLimits(
        max_trials=settings.max_trials_limit,
        max_epochs=settings.max_epochs_limit,
        max_parallelism=settings.max_parallelism_limit,
        max_trial_time_s=settings.max_trial_time_s,
        allow_synthetic=settings.allow_synthetic,
        max_model_params=settings.max_model_params,
        max_dimensions=settings.max_search_dimensions,
        webhook_hosts=settings.webhook_hosts,
        webhook_http_loopback=settings.webhook_allow_http_loopback,
    )
    spec = load_spec(payload, limits, datasets=tenant_lookup(current_tenant()))
    store = _store()
    _check_warm_start(store, spec)
    active = len(store.active_specs(current_tenant()))
    if active >= settings.max_active_jobs_per_tenant:
        raise ApiError(
            429,
            "too_many_jobs",
            f"The tenant has {active} unfinished jobs, the most allowed; wait for one to finish "
            "or cancel one.",
            headers={"Retry-After": "30"},
        )
    job_id = store.create_job(
        tenant=current_tenant(),
        name=spec.name,
        spec=spec.to_dict(),
        max_trials=spec.search.max_trials,
        direction=spec.training.objective.direction,
        max_duration_s=spec.search.max_duration_s,
        task=spec.task,
        callback_url=spec.callback_url,
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
            earlier = job_for_caller(job_id)
        except JobNotFound:
            problems[path] = ["No such job."]
            continue
        if not earlier.status.is_finished:
            problems[path] = [f"The job is {earlier.status.value}; warm start from finished jobs."]
        elif set(earlier.spec.get("search_space", {})) != set(spec.search_space):
            problems[path] = ["Its search space has other hyperparameters; it is not compatible."]
    if problems:
        raise ApiError(422, "validation_error", "The job spec is invalid.", fields=problems)


class JobListQuery(Schema):
    """``GET /v1/jobs`` query parameters; anything else is a 422."""

    status = fields.String(validate=validate.OneOf([s.value for s in JobStatus]))
    name = fields.String(validate=validate.Length(min=1, max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(validate=validate.Length(max=200))


def encode_cursor(position: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]!r}:{position[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        score, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if not _JOB_ID.match(job_id) or not math.isfinite(float(score)):
            raise ValueError(cursor)
        return float(score), job_id
    except ValueError:
        raise ApiError(
            422,
            "validation_error",
            "The request is invalid.",
            {"cursor": ["Not a cursor this API returned."]},
        ) from None


@blueprint.get("")
def list_jobs() -> ResponseReturnValue:
    """The caller's jobs, newest first, optionally by status or name; ``next_cursor`` pages."""
    query = JobListQuery().load(request.args.to_dict())
    after = decode_cursor(query["cursor"]) if "cursor" in query else None

    def keep(job: JobRecord) -> bool:
        return query.get("status") in (None, job.status.value) and query.get("name") in (
            None,
            job.name,
        )

    jobs, position = _store().page_jobs(
        current_tenant(), limit=query["limit"], after=after, keep=keep
    )
    return jsonify(
        {
            "jobs": [job_summary(job) for job in jobs],
            "next_cursor": encode_cursor(position) if position else None,
        }
    )


@blueprint.delete("/<job_id>")
def delete_job(job_id: str) -> ResponseReturnValue:
    """Delete a finished job with its trials and model; 409 while it is queued or running."""
    job = job_for_caller(job_id)
    if not job.status.is_finished:
        raise ApiError(409, "conflict", f"The job is {job.status.value}; cancel it first.")
    _store().delete_job(job.id)
    return "", 204


class JobQuery(Schema):
    wait = fields.Float(validate=validate.Range(min=0, max=MAX_WAIT_S))


def _job_state(job_id: str) -> tuple[str, str, bool]:
    """The job's view as JSON, its entity tag, and whether it is finished: one round trip to
    Redis, which checks the caller's key too (``KEY_CHECKED_BY_READ``)."""
    read = _store().read_job(job_id if _JOB_ID.match(job_id) else "-", key_to_check())
    tenant = tenant_from_read(read)
    job = read.job
    if job is None or job.tenant != tenant:
        raise JobNotFound(job_id)
    body = current_app.json.dumps(job_view(job, read.best), separators=(",", ":"))
    tag = hashlib.sha256(body.encode()).hexdigest()[:32]
    return body, tag, job.status.is_finished


_JOB_QUERY = JobQuery()


@blueprint.get("/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    """The job. ``If-None-Match`` with its last ETag answers 304 when nothing changed; with
    ``wait=N`` the answer waits up to N seconds for a change first (long polling)."""
    body, tag, finished = _job_state(job_id)
    wait = _JOB_QUERY.load(request.args.to_dict()).get("wait", 0.0) if request.args else 0.0
    seen = request.if_none_match
    first = tag
    deadline = time.monotonic() + wait

    # Unchanged: still the version the client holds (If-None-Match), or else the first read.
    def unchanged(tag: str) -> bool:
        return seen.contains_weak(tag) if seen else tag == first

    while not finished and time.monotonic() < deadline and unchanged(tag):
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        body, tag, finished = _job_state(job_id)
    headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache"}
    if seen.contains_weak(tag):
        return "", 304, headers
    return current_app.response_class(body + "\n", mimetype="application/json"), 200, headers


@blueprint.get("/<job_id>/trials")
def list_trials(job_id: str) -> ResponseReturnValue:
    job = job_for_caller(job_id)
    trials = _store().list_trials(job.id)
    return jsonify({"job_id": job.id, "trials": [trial_view(t) for t in trials]})


@blueprint.get("/<job_id>/model")
def download_model(job_id: str) -> ResponseReturnValue:
    """The refit best model as a ``.keras`` file (feature scaling built in, no optimizer)."""
    job = job_for_caller(job_id)
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
    job = job_for_caller(job_id)
    status = _store().cancel_job(job.id)
    if status != JobStatus.CANCELLED:
        raise ApiError(409, "conflict", f"The job already {status.value}; nothing to cancel.")
    if job.webhook is not None and job.webhook["status"] == "waiting":
        with contextlib.suppress(Exception):  # the sweep delivers it anyway
            _dispatcher().deliver_webhook(job.id)
    return get_job(job.id)
