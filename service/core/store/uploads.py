"""Uploaded datasets: content-addressed within a tenant, visible only to it.

A dataset's id is the SHA-256 of its tenant and its checked arrays: the same tenant sending the
same content again gets the same id (stored once), and another tenant sending it gets another id
and a copy of its own, so nothing about one tenant's uploads shows to another. A tenant holds at
most a number of datasets and a number of stored bytes, checked with the write in one step.
Deleting drops the tenant's reference and the data with it. Workers read the arrays by id.
"""

from __future__ import annotations

import json
import time
from typing import Any

from service.core import keys
from service.core.catalog import DatasetInfo
from service.core.records import DatasetMeta
from service.core.store import scripts
from service.core.store.codec import decode_meta, dumps, encode_meta
from service.core.store.connection import Connection
from service.core.store.errors import DatasetLimitReached, DatasetQuotaReached

Entry = dict[str, Any]
"""A tenant's entry for a dataset: the name it gave and when it uploaded (``created_at``)."""


class RedisDatasets:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._redis = conn.redis

    def put(
        self,
        tenant: str,
        meta: DatasetMeta,
        data: bytes,
        name: str,
        *,
        max_count: int,
        max_bytes: int,
    ) -> tuple[Entry, bool]:
        """Store ``data`` (an .npz of checked arrays) described by ``meta`` for ``tenant``;
        returns the tenant's entry and whether it is new.

        Raises:
            DatasetLimitReached: the tenant holds ``max_count`` datasets already.
            DatasetQuotaReached: the data would take the tenant past ``max_bytes``.
        """
        entry = {"name": name[:200], "created_at": time.time()}
        outcome, found = self._conn.script(scripts.PUT_DATASET)(
            keys=[
                keys.tenant_datasets(tenant),
                keys.tenant_dataset_bytes(tenant),
                keys.dataset(meta.id),
                keys.dataset_data(meta.id),
                keys.dataset_tenants(meta.id),
            ],
            args=[
                meta.id, tenant, dumps(entry), len(data), max_count, max_bytes,
                encode_meta(meta), data,
            ],
        )  # fmt: skip
        if outcome == 0:
            return json.loads(found), False
        if outcome == -1:
            raise DatasetLimitReached
        if outcome == -2:
            raise DatasetQuotaReached(int(found))
        return entry, True

    def meta(self, dataset_id: str) -> DatasetMeta | None:
        raw = self._redis.hget(keys.dataset(dataset_id), "meta")
        return decode_meta(raw) if raw else None

    def info(self, dataset_id: str) -> DatasetInfo | None:
        meta = self.meta(dataset_id)
        return meta.info() if meta else None

    def entry(self, tenant: str, dataset_id: str) -> Entry | None:
        """The tenant's entry for a dataset, or None if it holds none."""
        raw = self._redis.hget(keys.tenant_datasets(tenant), dataset_id)
        return json.loads(raw) if raw else None

    def list(self, tenant: str) -> list[tuple[DatasetMeta, Entry]]:
        """The tenant's datasets, newest upload first."""
        found = []
        for dataset_id, raw in self._redis.hgetall(keys.tenant_datasets(tenant)).items():
            meta = self.meta(dataset_id)
            if meta is not None:
                found.append((meta, json.loads(raw)))
        return sorted(found, key=lambda item: -item[1]["created_at"])

    def delete(self, tenant: str, dataset_id: str) -> bool:
        """Drop the tenant's reference (and the data with the last one); False if none held."""
        removed = self._conn.script(scripts.RELEASE_DATASET)(
            keys=[
                keys.tenant_datasets(tenant),
                keys.dataset_tenants(dataset_id),
                keys.dataset(dataset_id),
                keys.dataset_data(dataset_id),
                keys.tenant_dataset_bytes(tenant),
            ],
            args=[dataset_id, tenant],
        )
        return int(removed) >= 0

    def data(self, dataset_id: str) -> bytes | None:
        """The stored arrays (an uncompressed .npz), or None once the dataset is gone."""
        value = self._conn.binary.get(keys.dataset_data(dataset_id))
        return bytes(value) if value is not None else None
