"""Marshmallow schemas of what the API answers, for its OpenAPI document.

The views build plain dicts (``service.api.views``); these schemas describe them so that the
document, the interactive docs and the contract tests (schemathesis checks every response
against them) agree with what is really sent. A field that can be ``null`` says so.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.core.records import JobStatus, TrialState
from service.core.strict_fields import StrictBoolean, StrictInteger, StrictNumber

_JOB_STATES = [s.value for s in JobStatus]
_TRIAL_STATES = [s.value for s in TrialState]


def _metrics() -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Float(allow_none=True))


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"example": "validation_error"})
    message = fields.String(required=True)
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        required=True,
        metadata={"description": "Messages by dotted field path; empty when no field is at fault."},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class LinksSchema(Schema):
    self_ = fields.String(data_key="self", required=True)
    trials = fields.String()
    cancel = fields.String()
    extend = fields.String()
    model = fields.String()


class JobCreatedSchema(Schema):
    id = fields.String(required=True)
    status = fields.String(required=True)
    links = fields.Nested(LinksSchema, required=True)


class ProgressSchema(Schema):
    trials_finished = fields.Integer(required=True)
    trials_created = fields.Integer()
    trials_total = fields.Integer(required=True)
    extensions = fields.Integer(
        metadata={"description": "Times the job was reopened for more trials (POST .../extend)"}
    )
    fraction = fields.Float()


class BestSchema(Schema):
    trial = fields.Integer(required=True)
    value = fields.Float(allow_none=True)
    params = fields.Dict(required=True)
    configuration = fields.Dict(required=True)
    metrics = _metrics()
    epochs = fields.Integer(metadata={"description": "Epochs trained (per fold with k-fold)"})
    folds = fields.Integer(metadata={"description": "Folds it trained on (1 without k-fold)"})
    best_epoch = fields.Integer(allow_none=True)
    diagnosis = fields.Dict(allow_none=True)


class StatusChangeSchema(Schema):
    status = fields.String(required=True)
    at = fields.String(allow_none=True)


class ObjectiveSchema(Schema):
    metric = fields.String(required=True)
    direction = fields.String(required=True)


class WebhookSchema(Schema):
    url = fields.String(required=True)
    status = fields.String(
        required=True, metadata={"enum": ["waiting", "pending", "delivered", "failed"]}
    )
    attempts = fields.Integer(required=True)
    last_error = fields.String(allow_none=True)
    delivered_at = fields.String(allow_none=True)


class ModelSignatureSchema(Schema):
    input = fields.Dict(
        required=True,
        metadata={
            "description": "What the exported model takes: {type: array, sample_shape} or, for "
            "a table with string, boolean or empty cells, {type: columns, columns: {name: "
            "float32 | string}} (a dict of columns keyed by the CSV header; NaN for empty "
            "numbers)"
        },
    )
    class_names = fields.List(
        fields.String(),
        allow_none=True,
        metadata={"description": "The classes in the order of the model's outputs"},
    )
    bytes = fields.Integer(
        allow_none=True,
        metadata={"description": "The kept model's size (GET links.model); null: none is kept"},
    )


class JobSchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": _JOB_STATES})
    progress = fields.Nested(ProgressSchema, required=True)
    objective = fields.Nested(ObjectiveSchema, required=True)
    objectives = fields.List(
        fields.Nested(ObjectiveSchema),
        metadata={
            "description": "Every objective, the first being `objective` (one for most jobs)"
        },
    )
    best = fields.Nested(BestSchema, allow_none=True, required=True)
    error = fields.String(allow_none=True)
    stop_reason = fields.String(allow_none=True)
    summary = fields.Dict(allow_none=True)
    created_at = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    status_history = fields.List(fields.Nested(StatusChangeSchema))
    spec = fields.Dict(required=True)
    webhook = fields.Nested(WebhookSchema, allow_none=True)
    model = fields.Nested(ModelSignatureSchema, required=True)
    links = fields.Nested(LinksSchema, required=True)


class JobSummarySchema(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": _JOB_STATES})
    progress = fields.Nested(ProgressSchema, required=True)
    best_value = fields.Float(allow_none=True)
    created_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)
    links = fields.Nested(LinksSchema, required=True)


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSummarySchema), required=True)
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `cursor` for the next page; null on the last."},
    )


class TrialSchema(Schema):
    number = fields.Integer(required=True)
    state = fields.String(required=True, metadata={"enum": _TRIAL_STATES})
    params = fields.Dict(required=True)
    value = fields.Float(allow_none=True)
    metrics = _metrics()
    epochs = fields.Integer(metadata={"description": "Epochs trained (per fold with k-fold)"})
    epochs_trained = fields.Integer(metadata={"description": "Every fold's epochs (the compute)"})
    best_epoch = fields.Integer(allow_none=True)
    diagnosis = fields.Dict(allow_none=True)
    folds = fields.List(fields.Dict(), allow_none=True)
    attempt = fields.Integer()
    preemptions = fields.Integer()
    history = fields.Dict(keys=fields.String(), values=fields.List(fields.Float(allow_none=True)))
    error = fields.String(allow_none=True)
    worker = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True)
    finished_at = fields.String(allow_none=True)


class TrialListSchema(Schema):
    job_id = fields.String(required=True)
    trials = fields.List(fields.Nested(TrialSchema), required=True)


class DatasetLinksSchema(Schema):
    self_ = fields.String(data_key="self", required=True)


class DatasetSchema(Schema):
    id = fields.String(required=True, metadata={"description": "SHA-256 of the checked content"})
    name = fields.String(required=True)
    format = fields.String(required=True, metadata={"enum": ["npz", "csv"]})
    task = fields.String(required=True, metadata={"enum": ["classification", "regression"]})
    n_features = fields.Integer(required=True)
    n_classes = fields.Integer(allow_none=True)
    classes = fields.List(
        fields.Raw(), allow_none=True, metadata={"description": "Labels as uploaded, in order"}
    )
    class_names = fields.List(
        fields.String(), allow_none=True, metadata={"description": "The labels as text"}
    )
    image_shape = fields.List(fields.Integer(), allow_none=True)
    columns = fields.List(fields.String(), allow_none=True)
    column_kinds = fields.List(
        fields.Dict(),
        allow_none=True,
        metadata={"description": "A table's columns: name, kind, input, missing, distinct, note"},
    )
    model_input = fields.Dict(
        required=True, metadata={"description": "What a model tuned on it takes"}
    )
    splits = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    size_bytes = fields.Integer(required=True)
    created_at = fields.String(allow_none=True)
    links = fields.Nested(DatasetLinksSchema, required=True)


class DatasetListSchema(Schema):
    datasets = fields.List(fields.Nested(DatasetSchema), required=True)


class TrialDemandSchema(Schema):
    waiting = fields.Integer(
        required=True, metadata={"description": "Trial tasks waiting in the queue"}
    )
    running = fields.Integer(required=True, metadata={"description": "Running under a live lease"})
    wanted = fields.Integer(required=True, metadata={"description": "waiting + running"})


class ScalingSchema(Schema):
    trials = fields.Nested(TrialDemandSchema, required=True)


class HealthSchema(Schema):
    status = fields.String(required=True)
    workers = fields.Integer(metadata={"description": "Workers with a recent heartbeat"})


class FamilySchema(Schema):
    name = fields.String(required=True)
    builtin = fields.Boolean(required=True)
    doc = fields.String()
    tasks = fields.List(fields.String())
    hyperparameters = fields.List(
        fields.Dict(), metadata={"description": "name, kind, default, doc, low/high or choices"}
    )
    workers = fields.Integer(metadata={"description": "Live workers that offer it"})


class FamilyListSchema(Schema):
    families = fields.List(fields.Nested(FamilySchema), required=True)


class ImportanceSchema(Schema):
    importance = fields.Dict(
        keys=fields.String(), values=fields.Float(), required=True,
        metadata={"description": "Searched name -> its share of the explained objective"},
    )  # fmt: skip
    trials = fields.Integer(required=True, metadata={"description": "Scored trials used"})
    method = fields.String(required=True)
    note = fields.String(metadata={"description": "Why there are no shares yet"})


class ModelImportSchema(Schema):
    model = fields.Dict(
        required=True,
        metadata={"description": "The declared model (layers or graph, and input_shape): "
                  "paste it as a job's model and put slots in."},
    )  # fmt: skip
    notes = fields.List(
        fields.String(), required=True, metadata={"description": "What was dropped, and why"}
    )


class CancelRequestSchema(Schema):
    """``POST /v1/jobs/{id}/cancel``'s optional body (small request bodies that only the API
    reads have their schemas here); anything else is a 422."""

    refit = StrictBoolean(
        load_default=True,
        metadata={
            "description": "Ship the best trial so far: refit it on the training data, score it "
            "on the test set and keep its model, as a finished search does (the default). "
            "false: stop at once, with no model."
        },
    )


class ExtendRequestSchema(Schema):
    """``POST /v1/jobs/{id}/extend``'s body; anything else is a 422."""

    trials = StrictInteger(
        required=True,
        validate=validate.Range(min=1),
        metadata={"description": "Trials to add to the job's budget."},
    )
    max_duration_s = StrictNumber(
        validate=validate.Range(min=1),
        metadata={
            "description": "Seconds the extension may run (no trial starts later). Default: "
            "the job's own search.max_duration_s again, from now; none if it had none."
        },
    )
