"""Turn an uploaded file into checked, normalised arrays, or say exactly what is wrong with it.

Two formats:
- ``.npz`` with ``x_train``, ``y_train`` and optionally ``x_val``/``y_val`` and
  ``x_test``/``y_test`` (the layout ``keras.datasets`` use). Arrays of more than two dimensions
  are images: they are flattened and their shape kept, for the conv2d family (``npz``).
- ``.csv`` with a header row; the ``target`` column is the label, every other column a feature
  (``tables``): numbers, strings, booleans and empty cells, each column's kind inferred or set
  by ``column_types`` (``columns``).

Nothing here trusts the file; ``arrays`` checks what either format holds.
"""

from __future__ import annotations

from service.core.catalog import REGRESSION
from service.core.dataset_files.arrays import normalise
from service.core.dataset_files.npz import read_npz
from service.core.dataset_files.tables import read_csv
from service.core.dataset_files.types import (
    ARRAY_NAMES,
    DatasetError,
    ParsedDataset,
    UploadLimits,
    fail,
)

__all__ = ["ARRAY_NAMES", "DatasetError", "ParsedDataset", "UploadLimits", "parse_upload"]


def parse_upload(
    data: bytes,
    filename: str,
    limits: UploadLimits,
    *,
    target: str | None = None,
    task: str | None = None,
    column_types: object = None,
) -> ParsedDataset:
    """Parse and check an upload.

    Raises:
        DatasetError: naming the part of the upload to fix (``file``, an array, a column).
    """
    if not data:
        raise fail("file", "The file is empty.")
    lower = filename.lower()
    table = None
    if lower.endswith(".npz") or (not lower.endswith(".csv") and data[:4] == b"PK\x03\x04"):
        arrays, fmt, columns = read_npz(data, limits), "npz", None
        for name, given in (("target", target), ("column_types", column_types)):
            if given is not None:
                raise fail(name, "Only for CSV files; an .npz names its arrays.")
    elif lower.endswith(".csv"):
        numeric = task == REGRESSION
        arrays, columns, table = read_csv(data, limits, target, column_types, numeric)
        fmt = "csv"
    else:
        raise fail("file", "Upload an .npz (x_train, y_train, ...) or a .csv with a header row.")
    return normalise(arrays, limits, task, fmt, columns, table)
