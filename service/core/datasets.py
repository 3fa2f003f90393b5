"""Uploaded datasets in Redis: content-addressed, shared by id, visible only to their tenants.

An upload is stored once however many tenants send the same content (its id is the SHA-256 of
the checked arrays); each tenant holds its own reference with its own name. Deleting removes the
tenant's reference; the data goes with the last reference. Workers read the arrays by id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import redis

from service.core import keys
from service.core.catalog import DatasetInfo
from service.core.records import JobRecord
from service.core.spec import JobSpec, load_spec
from service.core.store import JobStore, binary_client
from service.core.uploads import ParsedDataset

Fetch = Callable[[str], bytes | None]  # an uploaded dataset's stored .npz by id

# Delete a tenant's reference and, when it was the last one, the data (atomically).
_RELEASE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class DatasetMeta:
    """What the API shows about a dataset, and what a job spec is checked against."""

    id: str
    task: str
    n_features: int
    n_classes: int | None
    classes: list[int | float] | None
    image_shape: list[int] | None
    columns: list[str] | None
    splits: dict[str, int]
    min_class_count: int | None
    format: str
    size_bytes: int

    def info(self) -> DatasetInfo:
        return DatasetInfo(
            name=self.id,
            task=self.task,
            n_features=self.n_features,
            n_classes=self.n_classes,
            n_samples=sum(self.splits.values()),
            image_shape=tuple(self.image_shape) if self.image_shape else None,
            has_validation=self.splits.get("val", 0) > 0,
            min_class_count=self.min_class_count,
        )


def describe(parsed: ParsedDataset, stored_bytes: int) -> DatasetMeta:
    arrays = parsed.arrays
    return DatasetMeta(
        id=parsed.content_id(),
        task=parsed.task,
        n_features=parsed.n_features,
        n_classes=len(parsed.classes) if parsed.classes else None,
        classes=parsed.classes,
        image_shape=list(parsed.image_shape) if parsed.image_shape else None,
        columns=parsed.columns,
        splits={p: len(arrays[f"y_{p}"]) for p in ("train", "val", "test") if f"y_{p}" in arrays},
        min_class_count=parsed.min_class_count,
        format=parsed.source_format,
        size_bytes=stored_bytes,
    )


class DatasetLimitReached(Exception):
    """The tenant holds as many datasets as it may."""


class DatasetStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._binary: redis.Redis | None = None
        self._release = client.register_script(_RELEASE)

    def binary(self) -> redis.Redis:
        if self._binary is None:
            self._binary = binary_client(self.redis)
        return self._binary

    def put(
        self, tenant: str, parsed: ParsedDataset, name: str, max_per_tenant: int
    ) -> tuple[DatasetMeta, dict[str, Any], bool]:
        """Store for ``tenant``; returns the description, the tenant's entry, whether new."""
        data = parsed.to_npz()
        meta = describe(parsed, len(data))
        existing = self.redis.hget(keys.tenant_datasets(tenant), meta.id)
        if existing is not None:
            return meta, json.loads(existing), False
        if self.redis.hlen(keys.tenant_datasets(tenant)) >= max_per_tenant:
            raise DatasetLimitReached
        entry = {"name": name[:200], "created_at": time.time()}
        if not self.redis.exists(keys.dataset(meta.id)):
            pipe = self.binary().pipeline(transaction=True)
            pipe.set(keys.dataset_data(meta.id), data)
            pipe.hset(keys.dataset(meta.id), mapping={"meta": json.dumps(asdict(meta))})
            pipe.execute()
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(keys.dataset_tenants(meta.id), tenant)
        pipe.hset(keys.tenant_datasets(tenant), meta.id, json.dumps(entry))
        pipe.execute()
        return meta, entry, True

    def meta(self, dataset_id: str) -> DatasetMeta | None:
        raw = self.redis.hget(keys.dataset(dataset_id), "meta")
        return DatasetMeta(**json.loads(raw)) if raw else None

    def info(self, dataset_id: str) -> DatasetInfo | None:
        meta = self.meta(dataset_id)
        return meta.info() if meta else None

    def entry(self, tenant: str, dataset_id: str) -> dict[str, Any] | None:
        """The tenant's entry for a dataset (name, upload time), or None if it holds none."""
        raw = self.redis.hget(keys.tenant_datasets(tenant), dataset_id)
        return json.loads(raw) if raw else None

    def list(self, tenant: str) -> list[tuple[DatasetMeta, dict[str, Any]]]:
        found = []
        for dataset_id, raw in self.redis.hgetall(keys.tenant_datasets(tenant)).items():
            meta = self.meta(dataset_id)
            if meta is not None:
                found.append((meta, json.loads(raw)))
        return sorted(found, key=lambda item: -item[1]["created_at"])

    def delete(self, tenant: str, dataset_id: str) -> bool:
        """Drop the tenant's reference (and the data with the last one); False if none held."""
        removed = self._release(
            keys=[
                keys.tenant_datasets(tenant),
                keys.dataset_tenants(dataset_id),
                keys.dataset(dataset_id),
                keys.dataset_data(dataset_id),
            ],
            args=[dataset_id, tenant],
        )
        return int(removed) >= 0

    def data(self, dataset_id: str) -> bytes | None:
        return self.binary().get(keys.dataset_data(dataset_id))


def load_job_spec(store: JobStore, job: JobRecord) -> JobSpec:
    """A stored job's spec, its dataset resolved (workers trust it: the API checked the tenant)."""
    return load_spec(job.spec, datasets=DatasetStore(store.redis).info)
