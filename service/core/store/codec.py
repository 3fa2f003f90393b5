"""Records to and from the strings Redis keeps: every field of a job or trial hash, decoded in
one place.

A job's spec is stored as the JSON ``spec_to_dict`` writes, with the description of its dataset
beside it (``dataset_info``), and decoded without the schemas. Decoding a spec is cached per
process by its text: a job's spec never changes, and a polled job is decoded again and again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from service.core.catalog import DatasetInfo
from service.core.families import definition_from
from service.core.records import (
    DatasetMeta,
    JobRecord,
    JobStatus,
    StatusChange,
    TrialRecord,
    TrialState,
    WebhookState,
    WebhookStatus,
)
from service.core.spec.codec import info_from_dict, info_to_dict, spec_from_dict, spec_to_dict
from service.core.spec.types import JobSpec

DescribeDataset = Callable[[str], DatasetInfo | None]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def encode_spec(spec: JobSpec) -> dict[str, str]:
    """The job hash fields that hold the spec."""
    fields = {
        "spec": dumps(spec_to_dict(spec)),
        "dataset_info": dumps(info_to_dict(spec.dataset.info)),
    }
    if spec.model.plugin is not None:  # the definition it was validated against, kept
        fields["family_info"] = dumps(spec.model.plugin.to_json())
    return fields


@functools.lru_cache(maxsize=2048)
def _decode_spec(spec: str, info: str | None, family: str | None = None) -> JobSpec:
    return spec_from_dict(
        json.loads(spec),
        info_from_dict(json.loads(info)) if info else None,
        definition_from(json.loads(family)) if family else None,
    )


def decode_job(
    raw: Mapping[str, str], log: Sequence[str], describe: DescribeDataset | None = None
) -> JobRecord:
    """A job hash and its status log as a record; ``describe`` finds the dataset description
    of a job stored before descriptions were kept beside the spec."""
    info = raw.get("dataset_info")
    if info is None and describe is not None:
        dataset_id = json.loads(raw["spec"])["dataset"].get("id")
        found = describe(dataset_id) if dataset_id else None
        info = dumps(info_to_dict(found)) if found else None
    return JobRecord(
        id=raw["id"],
        tenant=raw["tenant"],
        name=raw["name"],
        status=JobStatus(raw["status"]),
        spec=_decode_spec(raw["spec"], info, raw.get("family_info")),
        max_trials=int(raw["max_trials"]),
        trials_created=int(raw.get("trials_created", 0)),
        trials_finished=int(raw.get("trials_finished", 0)),
        best_trial=_int(raw.get("best_trial")),
        best_value=_float(raw.get("best_value")),
        test_metrics=_mapping(raw.get("test_metrics")),
        error=raw.get("error") or None,
        stop_reason=raw.get("stop_reason") or None,
        summary=_mapping(raw.get("summary")),
        deadline_at=_float(raw.get("deadline_at")),
        advances=int(raw.get("advances") or 0),
        advance_seconds=float(raw.get("advance_seconds") or 0.0),
        refills=int(raw.get("refills") or 0),
        refill_seconds=float(raw.get("refill_seconds") or 0.0),
        status_history=tuple(_status_change(entry) for entry in log),
        created_at=_float(raw.get("created_at")),
        started_at=_float(raw.get("started_at")),
        finished_at=_float(raw.get("finished_at")),
        webhook=_webhook(raw),
        model_bytes=_int(raw.get("model_bytes")),
        extensions=int(raw.get("extensions") or 0),
    )


def decode_trial(job_id: str, raw: Mapping[str, str]) -> TrialRecord:
    history = json.loads(raw.get("history") or "{}")
    return TrialRecord(
        job_id=job_id,
        number=int(raw["number"]),
        state=TrialState(raw["state"]),
        params=_mapping(raw["params"]),
        attempt=int(raw.get("attempt", 0)),
        preemptions=int(raw.get("preemptions", 0)),
        value=_float(raw.get("value")),
        metrics=_mapping(raw.get("metrics")),
        history=MappingProxyType({name: tuple(values) for name, values in history.items()}),
        details=_mapping(raw.get("details")),
        epochs=int(raw.get("epochs") or 0),
        best_epoch=_int(raw.get("best_epoch")),
        error=raw.get("error") or None,
        worker=raw.get("worker") or None,
        created_at=_float(raw.get("created_at")),
        started_at=_float(raw.get("started_at")),
        finished_at=_float(raw.get("finished_at")),
        lease_deadline=_float(raw.get("lease_deadline")),
        dispatched_at=_float(raw.get("dispatched_at")),
    )


def encode_meta(meta: DatasetMeta) -> str:
    return dumps(
        {
            "id": meta.id,
            "task": meta.task,
            "n_features": meta.n_features,
            "n_classes": meta.n_classes,
            "classes": _list(meta.classes),
            "image_shape": _list(meta.image_shape),
            "columns": _list(meta.columns),
            "splits": dict(meta.splits),
            "min_class_count": meta.min_class_count,
            "format": meta.format,
            "size_bytes": meta.size_bytes,
            "table": _list(meta.table),
            "encoding": dict(meta.encoding) if meta.encoding is not None else None,
        }
    )


def decode_meta(raw: str) -> DatasetMeta:
    data = json.loads(raw)
    for name in ("classes", "image_shape", "columns", "table"):
        if data.get(name) is not None:
            data[name] = tuple(data[name])
    data["splits"] = MappingProxyType(data["splits"])
    return DatasetMeta(**data)


def _list(value: Sequence[Any] | None) -> list[Any] | None:
    return None if value is None else list(value)


def _webhook(raw: Mapping[str, str]) -> WebhookState | None:
    if not raw.get("callback_url"):
        return None
    return WebhookState(
        url=raw["callback_url"],
        status=WebhookStatus(raw.get("webhook_status", WebhookStatus.WAITING)),
        attempts=int(raw.get("webhook_attempts") or 0),
        last_error=raw.get("webhook_error") or None,
        delivered_at=_float(raw.get("webhook_delivered_at")),
    )


def _status_change(entry: str) -> StatusChange:
    status, _, at = entry.partition("@")
    return StatusChange(JobStatus(status), float(at))


def _mapping(value: str | None) -> Mapping[str, Any]:
    return MappingProxyType(json.loads(value) if value else {})


def _int(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


def _float(value: str | None) -> float | None:
    return None if value in (None, "") else float(value)
