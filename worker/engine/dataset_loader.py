"""Datasets as arrays, with the test split fixed once per dataset.

The built-in sets are the ones scikit-learn bundles (nothing is downloaded). Each is cut once
into a training part and a test part with a fixed seed, stratified for classification; tuning
only ever sees the training part. Decoded datasets are cached per process.
"""

from __future__ import annotations

import functools
import io
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from service.core.catalog import (
    BUILTIN_DATASETS,
    CLASSIFICATION,
    TEST_FRACTION,
    TEST_SPLIT_SEED,
)
from service.core.spec import DatasetRef
from service.core.table_encoding import EncodingLimits

Fetch = Callable[[str], bytes | None]
"""An uploaded dataset's stored .npz by id (None once it is gone)."""

_UPLOADED: OrderedDict[str, Dataset] = OrderedDict()
_UPLOADED_CACHED = 4

_LOADERS = {
    "digits": sk_datasets.load_digits,
    "iris": sk_datasets.load_iris,
    "wine": sk_datasets.load_wine,
    "breast_cancer": sk_datasets.load_breast_cancer,
    "diabetes": sk_datasets.load_diabetes,
}


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None
    x_val: np.ndarray | None = None  # a validation part of the dataset's own, when it has one
    y_val: np.ndarray | None = None
    # a table read column by column: each model input column's description; the x arrays are
    # then object matrices, a column per input (floats with NaN for empty cells, or strings)
    columns: tuple[dict[str, Any], ...] | None = None
    encoding: EncodingLimits = field(default_factory=EncodingLimits)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


@functools.lru_cache(maxsize=8)
def load_builtin(name: str) -> Dataset:
    """Load a built-in dataset with its fixed train/test split."""
    info = BUILTIN_DATASETS[name]
    x, y = _LOADERS[name](return_X_y=True)
    x = np.asarray(x, dtype=np.float32)
    classification = info.task == CLASSIFICATION
    y = np.asarray(y, dtype=np.int64 if classification else np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x,
        y,
        test_size=TEST_FRACTION,
        random_state=TEST_SPLIT_SEED,
        stratify=y if classification else None,
    )
    for array in (x_train, x_test, y_train, y_test):
        array.setflags(write=False)
    return Dataset(name, info.task, x_train, y_train, x_test, y_test, info.n_classes)


def load_dataset(ref: DatasetRef, fetch: Fetch) -> Dataset:
    """A built-in dataset, or an uploaded one read once per process (its id is its content)."""
    if ref.builtin is not None:
        return load_builtin(ref.builtin)
    dataset_id = str(ref.id)
    if dataset_id in _UPLOADED:
        _UPLOADED.move_to_end(dataset_id)
        return _UPLOADED[dataset_id]
    data = fetch(dataset_id)
    if data is None:
        raise LookupError(f"dataset {dataset_id} is gone")
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        parts = {name: arrays[name] for name in arrays.files}
    columns, limits = None, EncodingLimits()
    if "schema" in parts:
        schema = json.loads(str(parts.pop("schema")))
        columns = tuple(c for c in schema["columns"] if c.get("input"))
        limits = EncodingLimits.from_dict(schema.get("limits"))
        for part in ("train", "val", "test"):
            if f"x_{part}" in parts:
                parts[f"x_{part}"] = _table(columns, parts[f"x_{part}"], parts.get(f"s_{part}"))
    for array in parts.values():
        array.setflags(write=False)
    dataset = Dataset(
        dataset_id,
        ref.info.task,
        parts["x_train"],
        parts["y_train"],
        parts["x_test"],
        parts["y_test"],
        ref.info.n_classes,
        parts.get("x_val"),
        parts.get("y_val"),
        columns,
        limits,
    )
    _UPLOADED[dataset_id] = dataset
    while len(_UPLOADED) > _UPLOADED_CACHED:
        _UPLOADED.popitem(last=False)
    return dataset


def _table(
    columns: tuple[dict[str, Any], ...], floats: np.ndarray, strings: np.ndarray | None
) -> np.ndarray:
    """One object matrix, a column per model input in order: what the splits slice by row and
    ``worker.engine.tables`` encodes."""
    table = np.empty((len(floats), len(columns)), dtype=object)
    for j, column in enumerate(columns):
        source = floats if column["input"] == "float32" else strings
        assert source is not None, f"column {column['name']!r} has no stored values"
        table[:, j] = source[:, int(column["position"])]
    return table


def holdout_split(
    x: np.ndarray, y: np.ndarray, fraction: float | int, seed: int, task: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split training data into fit and validation parts (stratified for classification);
    ``fraction`` is a share of the rows, or with an int their number.

    Every trial of a job uses the same seed, hence the same split, so their scores compare.
    """
    x_fit, x_val, y_fit, y_val = train_test_split(
        x, y, test_size=fraction, random_state=seed, stratify=y if task == CLASSIFICATION else None
    )
    return x_fit, y_fit, x_val, y_val
