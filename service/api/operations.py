"""Every route of the API with every status it can answer: the operations of the OpenAPI
document (``openapi`` assembles it). A test checks these against the app's ``url_map``."""

from __future__ import annotations

from typing import Any

from service.core.records import JobStatus
from service.core.wire import PLOTS

ERRORS = {
    400: "Malformed request (not JSON, bad header).",
    401: "Missing, unknown or revoked API key.",
    404: "No such resource for this tenant.",
    405: "Method not allowed.",
    409: "Conflicts with the resource's state.",
    413: "Body over the size limit.",
    415: "Wrong content type.",
    422: "Invalid input; `fields` names each offending field.",
    429: "Too many requests or jobs; see Retry-After.",
    503: "Redis or the broker unreachable; see Retry-After.",
}
_COMMON = (401, 405, 429, 503)


def _ok(description: str, schema: str | None = None, status: int = 200) -> dict[int, Any]:
    body: dict[str, Any] = {"description": description}
    if schema is not None:
        body["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    return {status: body}


def _op(
    summary: str,
    responses: dict[int, Any],
    errors: tuple[int, ...] = (),
    *,
    public: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    codes = set(errors) | ({503} if public else set(_COMMON))
    out = {int(k): v for k, v in responses.items()}
    for code in sorted(codes):
        out[code] = {"$ref": f"#/components/responses/E{code}"}
    operation: dict[str, Any] = {"summary": summary, "responses": out, **extra}
    if public:
        operation["security"] = []
    return operation


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_JOB_ID = _path_id("job_id", "A job id (32 hex digits).")
_DATASET_ID = _path_id("dataset_id", "A dataset id (64 hex digits).")
_JSON_SPEC = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/JobSpec"}},
        # the same document in YAML (no anchors or aliases), as the dashboard's editor sends it
        "application/yaml": {"schema": {"$ref": "#/components/schemas/JobSpec"}},
    },
}

_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key and body answers as the first request did.",
    "schema": {"type": "string", "maxLength": 255},
}

_PARTIAL = {
    "X-Tuneq-Partial": {
        "description": "true while the job runs: built from the trials finished so far",
        "schema": {"type": "string"},
    }
}

# (path, method) -> operation; the test checks these against the app's url_map.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/healthz", "get"): _op("The process is alive", _ok("Alive", "Health"), public=True),
    ("/readyz", "get"): _op(
        "Redis answers and a worker has reported recently", _ok("Ready", "Health"), public=True
    ),
    ("/metrics", "get"): _op(
        "Prometheus metrics (no tenant data)",
        {200: {"description": "Text exposition format", "content": {"text/plain": {}}}},
        public=True,
    ),
    ("/scaling", "get"): _op(
        "Trial workers wanted now, for an autoscaler (counts only, no tenant data)",
        _ok("Waiting and running trial tasks", "Scaling"),
        public=True,
    ),
    ("/v1/openapi.json", "get"): _op("This document", _ok("The OpenAPI document"), public=True),
    ("/docs", "get"): _op(
        "Interactive documentation (Swagger UI, served locally)",
        {200: {"description": "An HTML page", "content": {"text/html": {}}}},
        public=True,
    ),
    ("/docs/{filename}", "get"): _op(
        "The documentation page's scripts and styles",
        {200: {"description": "A static file", "content": {"*/*": {}}}},
        (404,),
        public=True,
        parameters=[_path_id("filename", "A file of the Swagger UI bundle.")],
    ),
    ("/", "get"): _op(
        "Redirects to the dashboard",
        {302: {"description": "To /ui"}},
        public=True,
    ),
    ("/ui", "get"): _op(
        "The dashboard (asks for an API key; served locally, no CDN)",
        {200: {"description": "An HTML page", "content": {"text/html": {}}}},
        public=True,
    ),
    ("/ui/", "get"): _op(
        "Redirects to the dashboard", {302: {"description": "To /ui"}}, public=True
    ),
    ("/ui/{filename}", "get"): _op(
        "The dashboard's scripts, styles and example specs",
        {200: {"description": "A static file", "content": {"*/*": {}}}},
        (404,),
        public=True,
        parameters=[_path_id("filename", "A file of the dashboard.")],
    ),
    ("/v1/jobs", "post"): _op(
        "Submit a tuning job",
        _ok("Accepted (or replayed for a repeated Idempotency-Key)", "JobCreated", 202),
        (400, 404, 409, 413, 415, 422),
        requestBody=_JSON_SPEC,
        parameters=[
            _IDEMPOTENCY,
        ],
    ),
    ("/v1/jobs", "get"): _op(
        "List the tenant's jobs, newest first",
        _ok("A page of jobs", "JobList"),
        (422,),
        parameters=[
            {
                "name": "status",
                "in": "query",
                "schema": {"type": "string", "enum": [s.value for s in JobStatus]},
            },
            {"name": "name", "in": "query", "schema": {"type": "string", "maxLength": 200}},
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
            },
            {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 200}},
        ],
    ),
    ("/v1/jobs/{job_id}", "get"): _op(
        "A job: status, progress, best configuration with its metrics and diagnosis",
        {
            **_ok("The job (with its ETag)", "Job"),
            304: {"description": "Unchanged since the ETag in If-None-Match"},
        },
        (404, 422),
        parameters=[
            _JOB_ID,
            {
                "name": "wait",
                "in": "query",
                "description": "Long poll: wait up to this many seconds for a change.",
                "schema": {"type": "number", "minimum": 0, "maximum": 60},
            },
            {
                "name": "If-None-Match",
                "in": "header",
                "description": "The ETag last seen: 304 while the job is unchanged.",
                "schema": {"type": "string"},
            },
        ],
    ),
    ("/v1/jobs/{job_id}/events", "get"): _op(
        "Progress as server-sent events until the job finishes",
        {
            200: {
                "description": "snapshot, trial_started, epoch, trial_finished, job_status",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        },
        (400, 404),
        parameters=[
            _JOB_ID,
            {
                "name": "Last-Event-ID",
                "in": "header",
                "description": "Resume after this event.",
                "schema": {"type": "string"},
            },
        ],
    ),
    ("/v1/jobs/{job_id}", "delete"): _op(
        "Delete a finished job with its trials and model",
        {204: {"description": "Deleted"}},
        (404, 409),
        parameters=[_JOB_ID],
    ),
    ("/v1/jobs/{job_id}/trials", "get"): _op(
        "Every trial of a job", _ok("The trials", "TrialList"), (404,), parameters=[_JOB_ID]
    ),
    ("/v1/jobs/{job_id}/trials/{number}", "get"): _op(
        "One trial of a job (what a live view fetches when a trial finishes)",
        _ok("The trial", "Trial"),
        (404,),
        parameters=[
            _JOB_ID,
            {
                "name": "number",
                "in": "path",
                "required": True,
                "description": "The trial's number (0 for the first).",
                "schema": {"type": "integer", "minimum": 0},
            },
        ],
    ),
    ("/v1/jobs/{job_id}/cancel", "post"): _op(
        "Cancel a job (idempotent): stop now and ship the best so far, unless refit is false",
        _ok("The job: stopping (its best being refit), or cancelled", "Job"),
        (400, 404, 409, 413, 415, 422),
        parameters=[_JOB_ID],
        requestBody={
            "required": False,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Cancel"}}},
        },
    ),
    ("/v1/jobs/{job_id}/extend", "post"): _op(
        "Reopen a succeeded or cancelled job with more trials: the search goes on from all "
        "its trials, and the refit and test score run again at the end",
        _ok("The job, running again (as it is now, for a repeated key)", "Job", 202),
        (400, 404, 409, 413, 415, 422),
        parameters=[_JOB_ID, _IDEMPOTENCY],
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Extend"}}},
        },
    ),
    ("/v1/jobs/{job_id}/model", "get"): _op(
        "The refit best model as a .keras file",
        {
            200: {
                "description": "The model",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
        (404,),
        parameters=[_JOB_ID],
    ),
    ("/v1/jobs/{job_id}/report", "get"): _op(
        "A job's report: best configuration, metrics, diagnosis, trials, plots (while it runs,"
        " built from the trials so far: X-Tuneq-Partial: true)",
        {
            200: {
                "description": "The report",
                "headers": _PARTIAL,
                "content": {
                    "text/html": {"schema": {"type": "string"}},
                    "text/markdown": {"schema": {"type": "string"}},
                },
            }
        },
        (404, 422),
        parameters=[
            _JOB_ID,
            {
                "name": "format",
                "in": "query",
                "description": "html or markdown (default: from Accept, else html)",
                "schema": {"type": "string", "enum": ["html", "markdown"]},
            },
        ],
    ),
    ("/v1/jobs/{job_id}/importance", "get"): _op(
        "How much each searched hyperparameter explains the objective (random-forest "
        "permutation importance over the scored trials, cached per job version)",
        {
            **_ok("The shares (while the job runs, of the trials so far)", "Importance"),
            202: {"description": "Being computed by a control worker; retry (Retry-After)"},
        },
        (404,),
        parameters=[_JOB_ID],
    ),
    ("/v1/jobs/{job_id}/plots/{name}", "get"): _op(
        "A PNG plot of a job (while it runs, of the trials so far: X-Tuneq-Partial: true)",
        {
            200: {
                "description": "The plot",
                "headers": _PARTIAL,
                "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
        (404,),
        parameters=[
            _JOB_ID,
            {
                "name": "name",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "enum": list(PLOTS)},
            },
        ],
    ),
    ("/v1/datasets", "post"): _op(
        "Upload a dataset (.npz or .csv)",
        {**_ok("Stored", "Dataset", 201), **_ok("Already stored for this tenant", "Dataset")},
        (409, 413, 415, 422),
        requestBody={
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "target": {"type": "string", "description": "CSV label column"},
                            "task": {"type": "string", "enum": ["classification", "regression"]},
                            "name": {"type": "string"},
                            "column_types": {
                                "type": "string",
                                "description": "CSV: a JSON object of column name to kind "
                                "(numeric, categorical, boolean, text, ignore)",
                            },
                        },
                    }
                }
            },
        },
    ),
    ("/v1/datasets", "get"): _op("The tenant's datasets", _ok("Datasets", "DatasetList")),
    ("/v1/families", "get"): _op(
        "The model families a job may name: built-in, and those live workers offer",
        _ok("Families", "FamilyList"),
    ),
    ("/v1/models/import", "post"): _op(
        "A Keras model's architecture as a declared model (read as JSON; nothing runs)",
        _ok("The declaration", "ModelImport"),
        (400, 413, 415, 422),
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"description": "model.to_json(): the document or its string"}
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": ".keras or .json",
                            }
                        },
                    }
                },
            },
        },
    ),
    ("/v1/datasets/{dataset_id}", "get"): _op(
        "A dataset", _ok("The dataset", "Dataset"), (404,), parameters=[_DATASET_ID]
    ),
    ("/v1/datasets/{dataset_id}", "delete"): _op(
        "Delete a dataset (409 while an unfinished job uses it)",
        {204: {"description": "Deleted"}},
        (404, 409),
        parameters=[_DATASET_ID],
    ),
}
