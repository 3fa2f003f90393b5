"""Reading an uploaded ``.csv``: a header row, the ``target`` column as the label, every other
column a feature.

A table of complete numeric columns is read as one matrix (the fast path; the exported model
takes a matrix, and conv families may read its rows as sequences). Any other table (string or
boolean columns, empty cells, ``column_types``) is read column by column (``columns``): the
exported model then takes a dict of columns keyed by the header."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable

import numpy as np

from service.core.dataset_files.columns import Column, check_column_types, read_table
from service.core.dataset_files.types import UploadLimits, fail


def read_csv(
    data: bytes,
    limits: UploadLimits,
    target: str | None,
    column_types: object = None,
    numeric_labels: bool = False,
) -> tuple[dict[str, np.ndarray], list[str], list[Column] | None]:
    """The features, the labels (``y_train``), the feature names, and each column's description
    when the table is read column by column (None on the numeric fast path)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail("file", f"Not UTF-8 text: {exc}.") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise fail("file", "The CSV has no header row.") from None
    except csv.Error as exc:
        raise fail("file", f"Not a valid CSV: {exc}.") from None
    if len(set(header)) != len(header) or "" in header:
        raise fail("file", "Header names must be unique and non-empty.")
    target = target or ("target" if "target" in header else None)
    if target is None:
        raise fail("target", "Name the label column (form field 'target').")
    if target not in header:
        raise fail("target", f"No column {target!r}; the header has {header[:20]}.")
    if len(header) - 1 > limits.max_features:
        raise fail("file", f"{len(header) - 1} features; the limit is {limits.max_features}.")
    declared = None if column_types is None else check_column_types(column_types, header, target)
    matrix = None if declared is not None else _numbers(text, limits)
    if matrix is None:
        return _by_column(reader, header, target, limits, declared or {}, numeric_labels)
    if len(matrix) > limits.max_rows:
        raise fail("file", f"More than {limits.max_rows:,} rows.")
    if matrix.shape[1] != len(header):
        raise fail("file", f"Rows have {matrix.shape[1]} values; the header has {len(header)}.")
    label = header.index(target)
    features = [c for i, c in enumerate(header) if i != label]
    x = np.delete(matrix, label, axis=1)
    return {"x_train": x, "y_train": matrix[:, label]}, features, None


def _numbers(text: str, limits: UploadLimits) -> np.ndarray | None:
    """Every cell as a finite number, or None when some cell is not one."""
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
        return None
    if len(matrix) == 0:
        raise fail("file", "The CSV has a header but no rows.")
    return matrix if np.isfinite(matrix).all() else None


def _by_column(
    reader: Iterable[list[str]],
    header: list[str],
    target: str,
    limits: UploadLimits,
    declared: dict[str, str],
    numeric_labels: bool,
) -> tuple[dict[str, np.ndarray], list[str], list[Column]]:
    rows: list[list[str]] = []
    try:
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise fail("file", f"Row {line} has {len(row)} values; the header has "
                           f"{len(header)}.")  # fmt: skip
            rows.append(row)
            if len(rows) > limits.max_rows:
                raise fail("file", f"More than {limits.max_rows:,} rows.")
            if len(rows) * len(header) > limits.max_table_cells:
                raise fail("file", f"More than {limits.max_table_cells:,} cells: a table "
                           "with string or empty cells is read cell by cell, and this is as "
                           "many as one upload may hold (TUNEQ_MAX_DATASET_UNPACKED_BYTES / 32)."
                           )  # fmt: skip
    except csv.Error as exc:
        raise fail("file", f"Not a valid CSV: {exc}.") from None
    if not rows:
        raise fail("file", "The CSV has a header but no rows.")
    arrays, columns, labels = read_table(header, rows, target, limits, declared, numeric_labels)
    arrays["y_train"] = labels
    return arrays, [c.name for c in columns if c.input is not None], columns
