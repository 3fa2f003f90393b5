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

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service import submit
from service.api.auth import current_tenant, key_to_check, tenant_from_read
from service.api.errors import ApiError
from service.api.job_views import JobViews, RenderedJob
from service.api.schemas import CancelRequestSchema
from service.api.views import job_summary, job_view, trial_view
from service.api.yaml_body import YAML_TYPES, load_yaml
from service.core.records import JobRecord, JobStatus, WebhookStatus
from service.core.store import JobNotFound, JobStore
from service.dispatch import Dispatcher, QueueUnavailable

blueprint = Blueprint("jobs", __name__, url_prefix="/v1/jobs")

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_WAIT_S = 60.0  # the longest a long poll may wait
POLL_S = 0.25  # how often a long poll looks again
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _store() -> JobStore:
    return current_app.extensions["tuneq.store"]


def _dispatcher() -> Dispatcher:
    return current_app.extensions["tuneq.dispatcher"]


def json_body(what: str = "the job", *, yaml_too: bool = False) -> Any:
    """The request's JSON body (or YAML one, where ``yaml_too``): 415 for another type, 413
    over the limit (a chunked body too: the server's stream stops at the limit without saying
    so)."""
    is_yaml = yaml_too and request.mimetype in YAML_TYPES
    if not (request.is_json or is_yaml):
        also = " or YAML (application/yaml)" if yaml_too else ""
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send {what} as JSON (Content-Type: application/json){also}.",
        )
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    raw = request.get_data(cache=False)
    if len(raw) >= limit and _drain(request.environ["wsgi.input"], 8 * limit):
        raise ApiError(413, "payload_too_large", f"The body is over the {limit:,}-byte limit.")
    if not raw.strip():
        raise ApiError(400, "bad_request", f"A {'YAML' if is_yaml else 'JSON'} body is required.")
    if is_yaml:
        return load_yaml(raw)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_request", f"The body is not valid JSON: {exc}"[:300]) from None


def _drain(stream: Any, most: int) -> int:
    """Read and drop what is left of a body (at most ``most`` bytes), so that a client still
    sending it reads the answer rather than a reset connection; returns the bytes read."""
    dropped = 0
    while dropped < most and (chunk := stream.read(64 * 1024)):
        dropped += len(chunk)
    return dropped


def job_for_caller(job_id: str) -> JobRecord:
    """The caller's job, or 404 (also for malformed ids and other tenants' jobs)."""
    if not _JOB_ID.match(job_id):
        raise JobNotFound(job_id)
    job = _store().jobs.get(job_id)
    if job.tenant != current_tenant():
        raise JobNotFound(job_id)
    return job


@blueprint.post("")
def submit_job() -> ResponseReturnValue:
    """Validate and enqueue a job (JSON, or YAML). With ``Idempotency-Key``, a retry returns
    the same job."""
    payload = json_body(yaml_too=True)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise ApiError(
            400, "bad_request", "Idempotency-Key must be 1-255 printable ASCII characters."
        )
    try:
        submitted = submit.submit_job(
            _store(),
            _dispatcher(),
            current_app.config["TUNEQ_SETTINGS"],
            current_tenant(),
            payload,
            idempotency_key=key,
        )
    except submit.TooManyJobs as exc:
        raise ApiError(
            429,
            "too_many_jobs",
            f"The tenant has {exc.active} unfinished jobs, the most allowed; wait for one to "
            "finish or cancel one.",
            headers={"Retry-After": "30"},
        ) from None
    except submit.ComputeSpent as exc:
        raise ApiError(
            429,
            "compute_budget",
            f"The tenant used {exc.used:,} of its {exc.budget:,} trial-epochs for today "
            "(TUNEQ_TENANT_TRIAL_EPOCHS_PER_DAY); new jobs wait until midnight UTC.",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    except submit.IdempotencyConflict as exc:
        raise ApiError(
            409, "conflict", str(exc), headers={"Retry-After": "1"} if exc.retry else None
        ) from None
    location = f"/v1/jobs/{submitted.job_id}"
    body = {"id": submitted.job_id, "status": submitted.status, "links": {"self": location}}
    headers = {"Location": location}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(body), 202, headers


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

    jobs, position = _store().jobs.page(
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
    """Delete a finished job with its trials and model; 409 while it is queued, running or
    stopping (shipping its best after a cancel)."""
    job = job_for_caller(job_id)
    if not job.status.is_finished:
        hint = (
            'its best is being refit; wait for it, or cancel with {"refit": false}'
            if job.status == JobStatus.STOPPING
            else "cancel it first"
        )
        raise ApiError(409, "conflict", f"The job is {job.status.value}; {hint}.")
    _store().jobs.delete(job.id)
    return "", 204


class JobQuery(Schema):
    wait = fields.Float(validate=validate.Range(min=0, max=MAX_WAIT_S))


def job_state(job_id: str) -> tuple[str, str, bool]:
    """The job's view as JSON, its entity tag, and whether it is finished: one round trip to
    Redis, which checks the caller's key too (``KEY_CHECKED_BY_READ``), and no rendering when
    the job is as this process last rendered it (``job_views``)."""
    views: JobViews = current_app.extensions["tuneq.job_views"]
    held = views.get(job_id)
    read = _store().jobs.read(
        job_id if _JOB_ID.match(job_id) else "-", *key_to_check(), held.tag if held else None
    )
    tenant = tenant_from_read(read)
    if read.unchanged and held is not None:
        if held.tenant != tenant:
            raise JobNotFound(job_id)
        return held.body, held.etag, held.finished
    job = read.job
    if job is None:
        views.drop(job_id)
        raise JobNotFound(job_id)
    if job.tenant != tenant:
        raise JobNotFound(job_id)
    body = current_app.json.dumps(job_view(job, read.best), separators=(",", ":"))
    tag = hashlib.sha256(body.encode()).hexdigest()[:32]
    finished = job.status.is_finished
    views.put(job_id, RenderedJob(read.tag, job.tenant, body, tag, finished))
    return body, tag, finished


_JOB_QUERY = JobQuery()


@blueprint.get("/<job_id>")
def get_job(job_id: str) -> ResponseReturnValue:
    """The job. ``If-None-Match`` with its last ETag answers 304 when nothing changed; with
    ``wait=N`` the answer waits up to N seconds for a change first (long polling)."""
    body, tag, finished = job_state(job_id)
    wait = _JOB_QUERY.load(request.args.to_dict()).get("wait", 0.0) if request.args else 0.0
    seen = request.if_none_match
    first = tag
    deadline = time.monotonic() + wait

    # Unchanged: still the version the client holds (If-None-Match), or else the first read.
    def unchanged(tag: str) -> bool:
        return seen.contains_weak(tag) if seen else tag == first

    while not finished and time.monotonic() < deadline and unchanged(tag):
        time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        body, tag, finished = job_state(job_id)
    headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache"}
    if seen.contains_weak(tag):
        return "", 304, headers
    return current_app.response_class(body + "\n", mimetype="application/json"), 200, headers


@blueprint.get("/<job_id>/trials")
def list_trials(job_id: str) -> ResponseReturnValue:
    job = job_for_caller(job_id)
    trials = _store().trials.list(job.id)
    return jsonify({"job_id": job.id, "trials": [trial_view(t) for t in trials]})


@blueprint.get("/<job_id>/trials/<int:number>")
def get_trial(job_id: str, number: int) -> ResponseReturnValue:
    job = job_for_caller(job_id)
    trial = _store().trials.get(job.id, number) if number < job.trials_created else None
    if trial is None:
        raise ApiError(404, "not_found", f"The job has no trial {number}.")
    return jsonify(trial_view(trial))


@blueprint.get("/<job_id>/model")
def download_model(job_id: str) -> ResponseReturnValue:
    """The refit best model as a ``.keras`` file (feature scaling built in, no optimizer)."""
    job = job_for_caller(job_id)
    data = _store().models.get(job.id)
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
    """Stop the job: nothing new starts, running trials stop at their next batch. What a person
    means by cancel is "stop now and ship the best so far": unless the body says
    ``{"refit": false}``, a job with a best trial is ``stopping`` while that trial is refit and
    scored, then ``cancelled`` with its model, test metrics and summary.

    Idempotent: cancelling a cancelled (or stopping) job answers 200 again; a job that already
    succeeded or failed answers 409.
    """
    job = job_for_caller(job_id)
    sent = request.content_length or "chunked" in request.headers.get("Transfer-Encoding", "")
    refit = CancelRequestSchema().load(json_body() if sent else {})["refit"]
    status = _store().jobs.cancel(job.id, refit=refit)
    if status == JobStatus.STOPPING:
        with contextlib.suppress(QueueUnavailable):  # the sweep finalizes it anyway
            _dispatcher().advance(job.id)
        return get_job(job.id)
    if status != JobStatus.CANCELLED:
        raise ApiError(409, "conflict", f"The job already {status.value}; nothing to cancel.")
    if job.webhook is not None and job.webhook.status == WebhookStatus.WAITING:
        with contextlib.suppress(QueueUnavailable):  # the sweep delivers it anyway
            _dispatcher().deliver_webhook(job.id)
    return get_job(job.id)
