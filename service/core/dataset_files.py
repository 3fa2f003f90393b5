"""Turn an uploaded file into checked, normalised arrays, or say exactly what is wrong with it.

Two formats:
- ``.npz`` with ``x_train``, ``y_train`` and optionally ``x_val``/``y_val`` and
  ``x_test``/``y_test`` (the layout ``keras.datasets`` use). Arrays of more than two dimensions
  are images: they are flattened and their shape kept, for the conv2d family.
- ``.csv`` with a header row; the ``target`` column is the label, every other column a feature.

Nothing here trusts the file. ``np.load`` runs with ``allow_pickle=False``; before a member of
the archive is decompressed, its declared size and its ``.npy`` header (dtype and shape) are
checked against the limits, so a zip bomb or an object array is refused having read a few
hundred bytes. Values must be finite, labels integers (classification) or numbers (regression),
lengths must match, and every class needs enough samples for the splits.

Without a test part of its own, one is cut here (20 %, stratified, fixed seed), so that every
worker sees the same split and tuning never sees the test rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from service.core.catalog import CLASSIFICATION, REGRESSION, TEST_FRACTION, TEST_SPLIT_SEED

ARRAY_NAMES = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
# Every class needs this many training samples: the test cut, the validation split and two
# folds must each see it.
MIN_PER_CLASS = 5
MAX_CLASSES = 1000
MAX_IMAGE_DIMS = 4  # samples, height, width, channels


class DatasetError(ValueError):
    """What is wrong with an upload, keyed by the part of it (``x_train``, ``file``, a column)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


def _fail(where: str, message: str) -> DatasetError:
    return DatasetError({where: [message]})


@dataclass(frozen=True)
class UploadLimits:
    max_rows: int = 1_000_000
    max_features: int = 10_000
    max_decoded_bytes: int = 512 * 1024 * 1024  # all arrays together, once decompressed


@dataclass
class ParsedDataset:
    """Arrays ready to store: float32 features (2-D), int64 class indices or float32 targets."""

    task: str
    arrays: dict[str, np.ndarray]
    image_shape: tuple[int, ...] | None = None
    classes: list[int | float] | None = None
    columns: list[str] | None = None
    source_format: str = "npz"
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.arrays["x_train"].shape[1])

    @property
    def min_class_count(self) -> int | None:
        if self.task != CLASSIFICATION:
            return None
        return int(np.bincount(self.arrays["y_train"]).min())

    def content_id(self) -> str:
        """The SHA-256 of what the dataset is (task and arrays), so equal data gets one id."""
        digest = hashlib.sha256(self.task.encode())
        digest.update(repr(self.image_shape).encode())
        for name in ARRAY_NAMES:
            array = self.arrays.get(name)
            if array is not None:
                digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **self.arrays)
        return buffer.getvalue()


def parse_upload(
    data: bytes,
    filename: str,
    limits: UploadLimits,
    *,
    target: str | None = None,
    task: str | None = None,
) -> ParsedDataset:
    """Parse and check an upload. Raises ``DatasetError`` naming what to fix."""
    if not data:
        raise _fail("file", "The file is empty.")
    lower = filename.lower()
    if lower.endswith(".npz") or (not lower.endswith(".csv") and data[:4] == b"PK\x03\x04"):
        arrays, fmt, columns = _read_npz(data, limits), "npz", None
        if target is not None:
            raise _fail("target", "Only for CSV files; an .npz names its arrays y_*.")
    elif lower.endswith(".csv"):
        arrays, columns = _read_csv(data, limits, target)
        fmt = "csv"
    else:
        raise _fail("file", "Upload an .npz (x_train, y_train, ...) or a .csv with a header row.")
    return _normalise(arrays, limits, task, fmt, columns)


def _read_npz(data: bytes, limits: UploadLimits) -> dict[str, np.ndarray]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _fail("file", f"Not a valid .npz (zip) file: {exc}.") from None
    names: dict[str, zipfile.ZipInfo] = {}
    for member in members:
        name = member.filename.removesuffix(".npy")
        if name not in ARRAY_NAMES:
            raise _fail("file", f"Unexpected array {member.filename!r}; allowed: {ARRAY_NAMES}.")
        if name in names:
            raise _fail(name, "Appears twice in the archive.")
        names[name] = member
    declared = sum(m.file_size for m in members)
    if declared > limits.max_decoded_bytes:
        raise _fail(
            "file",
            f"The archive unpacks to {declared:,} bytes; the limit is "
            f"{limits.max_decoded_bytes:,}.",
        )
    arrays = {}
    for name, member in names.items():
        with archive.open(member) as handle:
            _check_npy_header(name, handle, member.file_size, limits)
        with archive.open(member) as handle:
            try:
                # Reads at most the member's declared size: zipfile stops there.
                arrays[name] = np.load(io.BytesIO(handle.read()), allow_pickle=False)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise _fail(name, f"Cannot be read as an array: {exc}.") from None
    for required in ("x_train", "y_train"):
        if required not in arrays:
            raise _fail(required, "Missing: an .npz needs x_train and y_train.")
    return arrays


def _check_npy_header(
    name: str, handle: io.BufferedIOBase, declared: int, limits: UploadLimits
) -> None:
    """Refuse object dtypes and oversized shapes from the header, before reading the data."""
    try:
        version = np.lib.format.read_magic(handle)  # type: ignore[arg-type]
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)  # type: ignore[arg-type]
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)  # type: ignore[arg-type]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(name, f"Not a .npy array: {exc}.") from None
    if dtype.hasobject:
        raise _fail(name, "Object (pickled) arrays are refused; save plain numbers.")
    if dtype.kind not in "biuf":
        raise _fail(name, f"Holds {dtype} values; only numbers are accepted.")
    size = math.prod(shape) * dtype.itemsize
    if size > limits.max_decoded_bytes or size > declared:
        raise _fail(name, f"Its header declares {size:,} bytes of data; that is not accepted.")


def _read_csv(
    data: bytes, limits: UploadLimits, target: str | None
) -> tuple[dict[str, np.ndarray], list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail("file", f"Not UTF-8 text: {exc}.") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise _fail("file", "The CSV has no header row.") from None
    except csv.Error as exc:
        raise _fail("file", f"Not a valid CSV: {exc}.") from None
    if len(set(header)) != len(header) or "" in header:
        raise _fail("file", "Header names must be unique and non-empty.")
    target = target or ("target" if "target" in header else None)
    if target is None:
        raise _fail("target", "Name the label column (form field 'target').")
    if target not in header:
        raise _fail("target", f"No column {target!r}; the header has {header[:20]}.")
    if len(header) - 1 > limits.max_features:
        raise _fail("file", f"{len(header) - 1} features; the limit is {limits.max_features}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
            matrix = np.loadtxt(
                io.StringIO(text),
                delimiter=",",
                skiprows=1,
                ndmin=2,
                comments=None,
                quotechar='"',
                max_rows=limits.max_rows + 1,
                dtype=np.float64,
            )
    except ValueError:
        raise _first_bad_cell(reader, header) from None
    if len(matrix) == 0:
        raise _fail("file", "The CSV has a header but no rows.")
    if len(matrix) > limits.max_rows:
        raise _fail("file", f"More than {limits.max_rows:,} rows.")
    if matrix.shape[1] != len(header):
        raise _fail("file", f"Rows have {matrix.shape[1]} values; the header has {len(header)}.")
    label = header.index(target)
    features = [c for i, c in enumerate(header) if i != label]
    x = np.delete(matrix, label, axis=1)
    return {"x_train": x, "y_train": matrix[:, label]}, features


def _first_bad_cell(reader: Iterable[list[str]], header: list[str]) -> DatasetError:
    """Why numpy could not read the rows, said as the row and column a person can fix."""
    try:
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                return _fail(
                    "file", f"Row {line} has {len(row)} values; the header has {len(header)}."
                )
            for column, cell in zip(header, row, strict=True):
                try:
                    float(cell)
                except ValueError:
                    return _fail(
                        column, f"Row {line}: {cell[:40]!r} is not a number; every column must be."
                    )
    except csv.Error as exc:
        return _fail("file", f"Not a valid CSV: {exc}.")
    return _fail("file", "The rows could not be read as numbers.")


def _normalise(
    arrays: dict[str, np.ndarray],
    limits: UploadLimits,
    task: str | None,
    fmt: str,
    columns: list[str] | None,
) -> ParsedDataset:
    for prefix in ("val", "test"):
        if (f"x_{prefix}" in arrays) != (f"y_{prefix}" in arrays):
            raise _fail(f"y_{prefix}", f"x_{prefix} and y_{prefix} come together.")
    x_train = arrays["x_train"]
    if x_train.ndim < 2 or x_train.ndim > MAX_IMAGE_DIMS:
        raise _fail(
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
            out[name] = _features(name, arrays[name], x_train.shape[1:], limits)
    if out["x_train"].shape[0] > limits.max_rows:
        raise _fail(
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
    parsed = ParsedDataset(task, out, image_shape, classes, columns, fmt)
    if task == CLASSIFICATION and (parsed.min_class_count or 0) < MIN_PER_CLASS:
        counts = np.bincount(out["y_train"], minlength=len(classes or ()))
        few = [classes[i] for i in np.flatnonzero(counts < MIN_PER_CLASS)][:10]  # type: ignore[index]
        raise _fail(
            "y_train",
            f"Classes {few} have fewer than {MIN_PER_CLASS} training samples; the test cut, "
            "the validation split and the folds need at least that many of each.",
        )
    return parsed


def _features(
    name: str, x: np.ndarray, sample_shape: tuple[int, ...], limits: UploadLimits
) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise _fail(name, f"Holds {x.dtype} values; only numbers are accepted.")
    if x.shape[1:] != sample_shape:
        raise _fail(name, f"Samples of shape {x.shape[1:]}; x_train's are {sample_shape}.")
    if len(x) == 0:
        raise _fail(name, "Has no samples.")
    flat = x.reshape(len(x), -1)
    if flat.shape[1] > limits.max_features:
        raise _fail(name, f"{flat.shape[1]:,} features; the limit is {limits.max_features:,}.")
    flat = flat.astype(np.float32)
    if not np.isfinite(flat).all():
        raise _fail(name, "Contains NaN or infinite values (or values too large for float32).")
    return flat


def _labels(name: str, y: np.ndarray, n_samples: int) -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise _fail(name, f"Labels of type {y.dtype}: use integers (classes) or numbers.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise _fail(name, f"Shape {y.shape}: one label per sample (a 1-D array).")
    if len(y) != n_samples:
        raise _fail(name, f"{len(y)} labels for {n_samples} samples.")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise _fail(name, "Contains NaN or infinite values.")
    return y


def _infer_task(y: np.ndarray) -> str:
    """Integers (or whole numbers, as a CSV gives them) with few distinct values: classes."""
    whole = y.dtype.kind in "biu" or bool(np.all(np.mod(y, 1) == 0))
    return (
        CLASSIFICATION
        if whole and len(np.unique(y)) <= min(MAX_CLASSES, len(y) // 2)
        else REGRESSION
    )


def _class_indices(
    labels: dict[str, np.ndarray],
) -> tuple[list[int | float], dict[str, np.ndarray]]:
    for name, y in labels.items():
        if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
            raise _fail(name, "Classification needs whole-number class labels.")
    classes = np.unique(labels["y_train"])
    if len(classes) < 2:
        raise _fail("y_train", "Classification needs at least two classes.")
    if len(classes) > MAX_CLASSES:
        raise _fail("y_train", f"{len(classes)} classes; at most {MAX_CLASSES}.")
    indexed = {}
    for name, y in labels.items():
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(unknown):
            raise _fail(name, f"Classes {unknown[:10].tolist()} do not occur in y_train.")
        indexed[name] = np.searchsorted(classes, y).astype(np.int64)
    values = [int(c) if float(c).is_integer() else float(c) for c in classes.tolist()]
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
        raise _fail("x_train", "Too few samples to hold out a test part.")
    arrays["x_test"], arrays["y_test"] = arrays["x_train"][test_index], y[test_index]
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][keep], y[keep]
