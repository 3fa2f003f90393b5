"""The datasets resource: upload a dataset once, then tune any number of jobs on it."""

from __future__ import annotations

import json
import re
import threading
from types import MappingProxyType
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from service.api.auth import current_tenant
from service.api.errors import ApiError
from service.api.views import iso
from service.core.catalog import CLASSIFICATION, REGRESSION
from service.core.dataset_files import DatasetError, ParsedDataset, UploadLimits, parse_upload
from service.core.records import DatasetMeta
from service.core.settings import Settings
from service.core.store import DatasetLimitReached, DatasetQuotaReached, JobStore
from service.core.store.uploads import RedisDatasets
from service.core.table_encoding import EncodingLimits

blueprint = Blueprint("datasets", __name__, url_prefix="/v1/datasets")


def install(app: Flask, settings: Settings) -> None:
    """Give the app its slots for uploads (one process checks at most that many at once)."""
    app.extensions["tuneq.upload_slots"] = threading.BoundedSemaphore(settings.uploads_per_process)
    app.register_blueprint(blueprint)


_DATASET_ID = re.compile(r"^[0-9a-f]{64}$")
_FORM_FIELDS = {"file", "target", "task", "name", "column_types"}
MAX_COLUMN_TYPES_CHARS = 256 * 1024


def _store() -> JobStore:
    return current_app.extensions["tuneq.store"]


def _datasets() -> RedisDatasets:
    return _store().datasets


def _settings() -> Settings:
    return current_app.config["TUNEQ_SETTINGS"]


def dataset_view(meta: DatasetMeta, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": meta.id,
        "name": entry.get("name", ""),
        "format": meta.format,
        "task": meta.task,
        "n_features": meta.n_features,
        "n_classes": meta.n_classes,
        "classes": meta.classes,
        "class_names": meta.class_names,
        "image_shape": meta.image_shape,
        "columns": meta.columns,
        "column_kinds": list(meta.table) if meta.table is not None else None,
        "model_input": meta.info().model_input(),
        "splits": meta.splits,
        "size_bytes": meta.size_bytes,
        "created_at": iso(entry.get("created_at")),
        "links": {"self": f"/v1/datasets/{meta.id}"},
    }


def describe(parsed: ParsedDataset, tenant: str, stored_bytes: int) -> DatasetMeta:
    """What the API shows about a tenant's upload once stored (``stored_bytes`` of .npz)."""
    arrays = parsed.arrays
    return DatasetMeta(
        id=parsed.content_id(tenant),
        task=parsed.task,
        # a table's: the columns its model takes (its float matrix holds only some of them)
        n_features=len(parsed.columns or ()) if parsed.tabular else parsed.n_features,
        n_classes=len(parsed.classes) if parsed.classes else None,
        classes=tuple(parsed.classes) if parsed.classes else None,
        image_shape=parsed.image_shape,
        columns=tuple(parsed.columns) if parsed.columns else None,
        splits=MappingProxyType(
            {p: len(arrays[f"y_{p}"]) for p in ("train", "val", "test") if f"y_{p}" in arrays}
        ),
        min_class_count=parsed.min_class_count,
        format=parsed.source_format,
        size_bytes=stored_bytes,
        table=tuple(parsed.table) if parsed.table is not None else None,
        encoding=MappingProxyType(dict(parsed.limits)) if parsed.tabular else None,
    )


def lookup(tenant: str, dataset_id: str) -> tuple[DatasetMeta, dict[str, Any]]:
    """The tenant's dataset, or 404 (also for malformed ids and other tenants' datasets)."""
    store = _datasets()
    entry = store.entry(tenant, dataset_id) if _DATASET_ID.match(dataset_id) else None
    meta = store.meta(dataset_id) if entry is not None else None
    if entry is None or meta is None:
        raise ApiError(404, "not_found", "No such dataset.")
    return meta, entry


@blueprint.post("")
def upload_dataset() -> ResponseReturnValue:
    """Upload ``file`` (.npz or .csv; multipart). Same content again: the same id, 200."""
    settings = _settings()
    # Refuse an oversized body from its Content-Length, before reading it (413).
    request.max_content_length = settings.max_dataset_bytes + 64 * 1024
    if not (request.content_type or "").startswith("multipart/form-data"):
        raise ApiError(415, "unsupported_media_type", "Send multipart/form-data with a file.")
    names = {str(name)[:100] for name in (*request.form, *request.files)}  # a name may be None
    unknown = sorted(names - _FORM_FIELDS)
    if unknown:
        raise ApiError(
            422,
            "validation_error",
            "The request is invalid.",
            {name: ["Unknown field."] for name in unknown[:20]},
        )
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(422, "validation_error", "The request is invalid.", {"file": ["Required."]})
    task = request.form.get("task") or None
    if task not in (None, CLASSIFICATION, REGRESSION):
        raise ApiError(
            422,
            "validation_error",
            "The request is invalid.",
            {"task": [f"Must be one of {[CLASSIFICATION, REGRESSION]}."]},
        )
    slots: threading.BoundedSemaphore = current_app.extensions["tuneq.upload_slots"]
    if not slots.acquire(blocking=False):
        raise ApiError(
            503,
            "unavailable",
            "This server is checking as many uploads as it may at once; retry shortly.",
            headers={"Retry-After": "5"},
        )
    try:
        meta, entry, created = _check_and_store(upload, task, settings)
    finally:
        slots.release()
    location = f"/v1/datasets/{meta.id}"
    return jsonify(dataset_view(meta, entry)), 201 if created else 200, {"Location": location}


def _check_and_store(
    upload: FileStorage, task: str | None, settings: Settings
) -> tuple[DatasetMeta, dict[str, Any], bool]:
    """Read, check and store an upload for the caller: what takes the memory, so at most
    ``uploads_per_process`` of these run at once in a process."""
    data = upload.stream.read(settings.max_dataset_bytes + 1)
    if len(data) > settings.max_dataset_bytes:
        raise ApiError(413, "payload_too_large", "The dataset is over the upload limit.")
    limits = UploadLimits(
        max_rows=settings.max_dataset_rows,
        max_features=settings.max_dataset_features,
        max_decoded_bytes=settings.max_dataset_unpacked_bytes,
    )
    filename = upload.filename or ""
    try:
        parsed = parse_upload(
            data, filename, limits, target=request.form.get("target") or None, task=task,
            column_types=_column_types(request.form.get("column_types")),
        )  # fmt: skip
    except DatasetError as exc:
        raise ApiError(422, "invalid_dataset", "The dataset is invalid.", exc.fields) from None
    del data
    if parsed.tabular:
        parsed.limits = EncodingLimits(
            one_hot=settings.table_one_hot_categories,
            embedded=settings.table_embedded_categories,
            text_words=settings.table_text_words,
        ).as_dict()
    tenant = current_tenant()
    stored = parsed.to_npz()
    meta = describe(parsed, tenant, len(stored))
    del parsed
    try:
        entry, created = _datasets().put(
            tenant,
            meta,
            stored,
            request.form.get("name") or filename or "dataset",
            max_count=settings.max_datasets_per_tenant,
            max_bytes=settings.max_dataset_bytes_per_tenant,
        )
    except DatasetLimitReached:
        raise ApiError(
            409,
            "conflict",
            f"The tenant holds {settings.max_datasets_per_tenant} datasets, the most allowed; "
            "delete one first.",
        ) from None
    except DatasetQuotaReached as exc:
        raise ApiError(
            409,
            "conflict",
            f"The tenant holds {exc.held:,} bytes of datasets; this one ({len(stored):,} bytes "
            f"stored) would pass its quota of {settings.max_dataset_bytes_per_tenant:,} "
            "(TUNEQ_MAX_DATASET_BYTES_PER_TENANT); delete one first.",
        ) from None
    return meta, entry, created


def _column_types(raw: str | None) -> object:
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_COLUMN_TYPES_CHARS:
        raise ApiError(422, "validation_error", "The request is invalid.", {"column_types": [
            f"{len(raw):,} characters; at most {MAX_COLUMN_TYPES_CHARS:,}."]})  # fmt: skip
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise ApiError(422, "validation_error", "The request is invalid.",
                       {"column_types": [f"Not JSON: {reason}."]}) from None  # fmt: skip


@blueprint.get("")
def list_datasets() -> ResponseReturnValue:
    found = _datasets().list(current_tenant())
    return jsonify({"datasets": [dataset_view(meta, entry) for meta, entry in found]})


@blueprint.get("/<dataset_id>")
def get_dataset(dataset_id: str) -> ResponseReturnValue:
    return jsonify(dataset_view(*lookup(current_tenant(), dataset_id)))


@blueprint.delete("/<dataset_id>")
def delete_dataset(dataset_id: str) -> ResponseReturnValue:
    """Delete the tenant's dataset; 409 while one of its unfinished jobs trains on it."""
    tenant = current_tenant()
    meta, _ = lookup(tenant, dataset_id)
    active = _store().jobs.active_specs(tenant)
    users = sorted(j for j, spec in active.items() if spec.dataset.id == meta.id)
    if users:
        raise ApiError(
            409,
            "conflict",
            f"Jobs {users[:5]} are still using this dataset; cancel them or wait.",
        )
    _datasets().delete(tenant, meta.id)
    return "", 204
