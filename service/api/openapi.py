"""The OpenAPI 3 document, built from the marshmallow schemas, and interactive docs offline.

Request bodies come from the same schemas that validate them (``JobSpecSchema``), responses from
``service.api.schemas``. Every route of the app is listed in ``OPERATIONS`` with every status it
can answer; a test checks that the routes and the document agree, and schemathesis checks real
responses against it; ``docs`` serves it to people.
"""

from __future__ import annotations

import functools
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from service.api import schemas
from service.api.operations import ERRORS, OPERATIONS
from service.core import strict_fields as spec_fields
from service.core.spec import SYNTHETIC, dimensions, model_schema
from service.core.spec import schema as spec_schema
from service.core.spec.types import SYNTHETIC_ONLY

blueprint = Blueprint("openapi", __name__)

TITLE = "tuneq"
VERSION = "1.0.0"

_COMPONENTS = {
    "Error": schemas.ErrorSchema,
    "JobSpec": spec_schema.JobSpecSchema,
    "JobCreated": schemas.JobCreatedSchema,
    "Job": schemas.JobSchema,
    "JobList": schemas.JobListSchema,
    "TrialList": schemas.TrialListSchema,
    "Trial": schemas.TrialSchema,
    "Dataset": schemas.DatasetSchema,
    "DatasetList": schemas.DatasetListSchema,
    "Health": schemas.HealthSchema,
    "Scaling": schemas.ScalingSchema,
    "Cancel": schemas.CancelRequestSchema,
    "Extend": schemas.ExtendRequestSchema,
    "ModelImport": schemas.ModelImportSchema,
    "FamilyList": schemas.FamilyListSchema,
    "Importance": schemas.ImportanceSchema,
}


def _custom_fields(plugin: MarshmallowPlugin) -> None:
    """Say what tuneq's own field types hold (apispec knows only marshmallow's)."""
    plugin.map_to_openapi_type(spec_fields.StrictNumber, "number", None)
    plugin.map_to_openapi_type(spec_fields.StrictInteger, "integer", None)
    plugin.map_to_openapi_type(spec_fields.StrictBoolean, "boolean", None)

    def describe(converter: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
        if isinstance(field, dimensions.SearchSpaceField):
            return {
                "type": "object",
                "description": "Hyperparameter name -> its range or choices.",
                "additionalProperties": {"$ref": "#/components/schemas/Dimension"},
            }
        if isinstance(field, dimensions.FixedField):
            return {"type": "object", "description": "Hyperparameter name -> a fixed value."}
        if isinstance(field, model_schema.LayersField):
            what = "nodes and outputs" if field.graph else "a list of layers and repeats"
            kind = "object" if field.graph else "array"
            return {"type": kind, "description": f"A declared model: {what} (README)."}
        return {}

    plugin.converter.add_attribute_function(describe)  # type: ignore[union-attr]


def _without_synthetic(node: Any) -> Any:
    """The document with the synthetic family and its fields left out."""
    if isinstance(node, dict):
        return {
            k: _without_synthetic(v)
            for k, v in node.items()
            if not (k in SYNTHETIC_ONLY and isinstance(v, dict))
        }
    if isinstance(node, list):
        return [_without_synthetic(v) for v in node if v != SYNTHETIC]
    return node


@functools.cache
def document(synthetic: bool = False) -> dict[str, Any]:
    """The OpenAPI document; with ``synthetic`` (a server that runs the synthetic family), its
    test-only fields too."""
    full = _document()
    return full if synthetic else _without_synthetic(full)


def _document() -> dict[str, Any]:
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={"description": "Hyperparameter tuning as a service for Keras models."},
    )
    _custom_fields(plugin)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Dimension", schema=dimensions.DimensionSchema)
    for name, schema in _COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    for code, description in ERRORS.items():
        spec.components.response(
            f"E{code}",
            {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
    by_path: dict[str, dict[str, Any]] = {}
    for (path, method), operation in OPERATIONS.items():
        by_path.setdefault(path, {})[method] = operation
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    out = spec.to_dict()
    out["security"] = [{"bearer": []}]
    return out


@blueprint.get("/v1/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(document(current_app.config["TUNEQ_SETTINGS"].allow_synthetic))
