"""Checking and normalising the arrays an upload holds, whatever its format.

Values must be finite, labels integers (classification) or numbers (regression), lengths must
match, and every class needs enough samples for the splits. Without a test part of its own, one
is cut here (20 %, stratified, fixed seed), so that every worker sees the same split and tuning
never sees the test rows.
"""

from __future__ import annotations

import numpy as np

from service.core.catalog import CLASSIFICATION, REGRESSION, TEST_FRACTION, TEST_SPLIT_SEED
from service.core.dataset_files.columns import Column
from service.core.dataset_files.types import ParsedDataset, UploadLimits, fail

# Every class needs this many training samples: the test cut, the validation split and two
# folds must each see it.
MIN_PER_CLASS = 5
MAX_CLASSES = 1000
MAX_IMAGE_DIMS = 4  # samples, height, width, channels


def normalise(
    arrays: dict[str, np.ndarray],
    limits: UploadLimits,
    task: str | None,
    fmt: str,
    columns: list[str] | None,
    table: list[Column] | None = None,
) -> ParsedDataset:
    for prefix in ("val", "test"):
        if (f"x_{prefix}" in arrays) != (f"y_{prefix}" in arrays):
            raise fail(f"y_{prefix}", f"x_{prefix} and y_{prefix} come together.")
    x_train = arrays["x_train"]
    if x_train.ndim < 2 or x_train.ndim > MAX_IMAGE_DIMS:
        raise fail(
            "x_train", "Needs shape (samples, features) or (samples, height, width[, channels])."
        )
    image_shape = None
    if x_train.ndim > 2:
        image_shape = tuple(int(d) for d in x_train.shape[1:])
        if len(image_shape) == 2:
            image_shape = (*image_shape, 1)
    out: dict[str, np.ndarray] = {}
    for name in ("x_train", "x_val", "x_test"):
        if name in arrays:
            out[name] = _features(name, arrays[name], x_train.shape[1:], limits, table is None)
    if "s_train" in arrays:
        out["s_train"] = arrays["s_train"]
    if out["x_train"].shape[0] > limits.max_rows:
        raise fail(
            "x_train", f"{out['x_train'].shape[0]:,} rows; the limit is {limits.max_rows:,}."
        )
    labels = {
        n: _labels(n, arrays[n], len(out[f"x{n[1:]}"]))
        for n in ("y_train", "y_val", "y_test")
        if n in arrays
    }
    task = task or _infer_task(labels["y_train"])
    classes = None
    if task == CLASSIFICATION:
        classes, labels = _class_indices(labels)
    else:
        labels = {n: y.astype(np.float32) for n, y in labels.items()}
    out.update(labels)
    if "x_test" not in out:
        _cut_test(out, task)
    described = [c.as_dict() for c in table] if table is not None else None
    parsed = ParsedDataset(task, out, image_shape, classes, columns, fmt, table=described)
    if task == CLASSIFICATION and (parsed.min_class_count or 0) < MIN_PER_CLASS:
        counts = np.bincount(out["y_train"], minlength=len(classes or ()))
        few = [classes[i] for i in np.flatnonzero(counts < MIN_PER_CLASS)][:10]  # type: ignore[index]
        raise fail(
            "y_train",
            f"Classes {few} have fewer than {MIN_PER_CLASS} training samples; the test cut, "
            "the validation split and the folds need at least that many of each.",
        )
    return parsed


def _features(
    name: str, x: np.ndarray, sample_shape: tuple[int, ...], limits: UploadLimits, finite: bool
) -> np.ndarray:
    """Checked float32 features; ``finite`` unless they are a table's, where NaN is an empty
    cell (a table's cells were checked finite as they were read)."""
    if x.dtype.kind not in "biuf":
        raise fail(name, f"Holds {x.dtype} values; only numbers are accepted.")
    if x.shape[1:] != sample_shape:
        raise fail(name, f"Samples of shape {x.shape[1:]}; x_train's are {sample_shape}.")
    if len(x) == 0:
        raise fail(name, "Has no samples.")
    if not finite:
        return x.astype(np.float32)
    flat = x.reshape(len(x), -1)
    if flat.shape[1] > limits.max_features:
        raise fail(name, f"{flat.shape[1]:,} features; the limit is {limits.max_features:,}.")
    flat = flat.astype(np.float32)
    if not np.isfinite(flat).all():
        raise fail(name, "Contains NaN or infinite values (or values too large for float32).")
    return flat


def _labels(name: str, y: np.ndarray, n_samples: int) -> np.ndarray:
    if y.dtype.kind not in "biufU":
        raise fail(name, f"Labels of type {y.dtype}: use integers (classes) or numbers.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise fail(name, f"Shape {y.shape}: one label per sample (a 1-D array).")
    if len(y) != n_samples:
        raise fail(name, f"{len(y)} labels for {n_samples} samples.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise fail(name, "Contains NaN or infinite values.")
    return y


def _infer_task(y: np.ndarray) -> str:
    """Integers (or whole numbers, as a CSV gives them) with few distinct values: classes;
    so are names."""
    if y.dtype.kind == "U":
        return CLASSIFICATION
    whole = y.dtype.kind in "biu" or bool(np.all(np.mod(y, 1) == 0))
    return (
        CLASSIFICATION
        if whole and len(np.unique(y)) <= min(MAX_CLASSES, len(y) // 2)
        else REGRESSION
    )


def _class_indices(
    labels: dict[str, np.ndarray],
) -> tuple[list[int | float | str], dict[str, np.ndarray]]:
    for name, y in labels.items():
        if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
            raise fail(name, "Classification needs whole-number class labels.")
    classes = np.unique(labels["y_train"])
    if len(classes) < 2:
        raise fail("y_train", "Classification needs at least two classes.")
    if len(classes) > MAX_CLASSES:
        raise fail("y_train", f"{len(classes)} classes; at most {MAX_CLASSES}.")
    indexed = {}
    for name, y in labels.items():
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(unknown):
            raise fail(name, f"Classes {unknown[:10].tolist()} do not occur in y_train.")
        indexed[name] = np.searchsorted(classes, y).astype(np.int64)
    if classes.dtype.kind == "U":
        return [str(c) for c in classes.tolist()], indexed
    values: list[int | float | str] = [
        int(c) if float(c).is_integer() else float(c) for c in classes.tolist()
    ]
    return values, indexed


def _cut_test(arrays: dict[str, np.ndarray], task: str) -> None:
    """Hold out a fixed, stratified test part (what the refit model is scored on)."""
    y = arrays["y_train"]
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    if task == CLASSIFICATION:
        test = []
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            test.extend(members[: max(1, round(len(members) * TEST_FRACTION))].tolist())
        test_index = np.sort(np.asarray(test, dtype=np.int64))
    else:
        order = rng.permutation(len(y))
        test_index = np.sort(order[: max(1, round(len(y) * TEST_FRACTION))])
    keep = np.ones(len(y), dtype=bool)
    keep[test_index] = False
    if keep.sum() < 2:
        raise fail("x_train", "Too few samples to hold out a test part.")
    for name in [n for n in arrays if n.endswith("_train")]:  # features, string columns, labels
        part = arrays[name]
        arrays[name.replace("_train", "_test")], arrays[name] = part[test_index], part[keep]
