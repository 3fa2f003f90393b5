"""Reading an uploaded ``.csv``: a header row, the ``target`` column as the label, every other
column a feature. A cell that is not a number is refused naming its row and column."""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterable

import numpy as np

from service.core.dataset_files.types import DatasetError, UploadLimits, fail


def read_csv(
    data: bytes, limits: UploadLimits, target: str | None
) -> tuple[dict[str, np.ndarray], list[str]]:
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
        raise fail("file", "The CSV has a header but no rows.")
    if len(matrix) > limits.max_rows:
        raise fail("file", f"More than {limits.max_rows:,} rows.")
    if matrix.shape[1] != len(header):
        raise fail("file", f"Rows have {matrix.shape[1]} values; the header has {len(header)}.")
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
                return fail(
                    "file", f"Row {line} has {len(row)} values; the header has {len(header)}."
                )
            for column, cell in zip(header, row, strict=True):
                try:
                    float(cell)
                except ValueError:
                    return fail(
                        column, f"Row {line}: {cell[:40]!r} is not a number; every column must be."
                    )
    except csv.Error as exc:
        return fail("file", f"Not a valid CSV: {exc}.")
    return fail("file", "The rows could not be read as numbers.")
