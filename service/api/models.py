"""Models: the families a job may name (``GET /v1/families``), and importing an existing Keras
model's architecture as a declared model, ready for slots.

``POST /v1/models/import`` takes ``model.to_json()`` as the JSON body (the document, or the
string ``to_json()`` returns), or a multipart ``file``: a ``.keras`` archive (only its
``config.json`` is read) or a ``.json`` file. It answers the declaration
(``service.core.architecture.importer``); nothing is stored, and no Keras code runs.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError

from service.api.errors import ApiError
from service.api.jobs import json_body
from service.core.architecture.importer import import_keras
from service.core.architecture.keras_archive import MAX_CONFIG_BYTES, read_config
from service.core.spec import ModelFamily
from service.core.store import JobStore

blueprint = Blueprint("models", __name__, url_prefix="/v1/models")
families_blueprint = Blueprint("families", __name__, url_prefix="/v1/families")
BUILTIN_FAMILIES = (ModelFamily.MLP, ModelFamily.CONV1D, ModelFamily.CONV2D, ModelFamily.DECLARED)


@families_blueprint.get("")
def list_families() -> ResponseReturnValue:
    """The model families a job may name: the built-in ones, and the operators' families that
    live workers offer (with their hyperparameters and how many workers serve each)."""
    store: JobStore = current_app.extensions["tuneq.store"]
    builtin = [{"name": f.value, "builtin": True} for f in BUILTIN_FAMILIES]
    offered = [{**d, "builtin": False} for d in store.fleet.live_families().values()]
    return jsonify({"families": builtin + offered})


@blueprint.post("/import")
def import_model() -> ResponseReturnValue:
    """The declared form of a Keras model (``model``, ``input_shape``, ``notes``)."""
    if (request.content_type or "").startswith("multipart/form-data"):
        settings = current_app.config["TUNEQ_SETTINGS"]
        request.max_content_length = settings.max_dataset_bytes + 64 * 1024
        document = _from_file()
    else:
        document = json_body("model.to_json() (or a .keras file as multipart/form-data)")
        if isinstance(document, str):  # what model.to_json() returns, sent as a JSON string
            document = _parse(document.encode(), "body")
    return jsonify(import_keras(document))


def _from_file() -> Any:
    upload = request.files.get("file")
    unknown = sorted({str(n)[:100] for n in (*request.form, *request.files)} - {"file"})
    if unknown or upload is None:
        fields = {n: ["Unknown field."] for n in unknown[:20]} or {"file": ["Required."]}
        raise ApiError(422, "validation_error", "The request is invalid.", fields)
    data = upload.read()  # (at most the request's limit: the dataset upload size)
    if data[:2] == b"PK":
        return read_config(data)
    if len(data) > MAX_CONFIG_BYTES:
        raise ValidationError({"file": [f"A model's JSON is at most {MAX_CONFIG_BYTES:,} bytes."]})
    return _parse(data, "file")


def _parse(data: bytes, field: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValidationError({field: [f"Not valid JSON: {exc}"[:300]]}) from None
