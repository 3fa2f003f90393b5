"""Reading a table as users have it: string columns, yes/no columns, empty cells, named classes.

Each feature column gets a kind, inferred from its cells or set by the upload's ``column_types``:

- ``numeric``: numbers, empty cells allowed (the worker imputes the training median and adds a
  missing indicator);
- ``categorical``: strings, or whole numbers with few distinct values (integer codes); an empty
  cell is a category of its own;
- ``boolean``: two values spelled true/false, yes/no, y/n or t/f (any case);
- ``text``: long strings with spaces (a bag of words);
- ``ignore``: left out; the default for an id-like column (a different value on every row) and
  a column with no values at all.

A column's ``input`` is what the exported model takes for it, as ``pandas.read_csv`` reads the
same file: ``float32`` for numbers, integer codes and true/false (pandas reads those as
booleans; missing cells as NaN), ``string`` for everything else. Float inputs are stored as one
float32 matrix (NaN where empty), string inputs as one fixed-width unicode matrix: plain arrays,
so the stored ``.npz`` loads without pickle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from service.core.dataset_files.types import DatasetError, UploadLimits, fail

NUMERIC, CATEGORICAL, BOOLEAN, TEXT, IGNORE = "numeric", "categorical", "boolean", "text", "ignore"
KINDS = (NUMERIC, CATEGORICAL, BOOLEAN, TEXT, IGNORE)
FLOAT, STRING = "float32", "string"

MISSING = frozenset({
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
})  # fmt: skip
"""Cells read as empty: exactly what ``pandas.read_csv`` reads as NaN by default (case and
spaces matter), so that a user's pandas rows reach the exported model as training saw them."""
BOOLEAN_PAIRS = ({"true", "false"}, {"yes", "no"}, {"y", "n"}, {"t", "f"})
PANDAS_BOOLEANS = frozenset({"True", "TRUE", "true", "False", "FALSE", "false"})
"""The spellings pandas reads as booleans (so the exported model takes them as numbers)."""
CODES_AT_MOST = 10
"""Whole numbers with at most this many distinct values are integer-coded categories."""
ID_ROWS_AT_LEAST = 20
"""A column unique on every row of a table this long is an id (with fewer rows it may not be)."""
TEXT_MEAN_LENGTH = 30
"""Strings this long on average, most of them with spaces, are free text."""
MAX_CELL_CHARS = 1000
FLOAT32_MAX = float(np.finfo(np.float32).max)
_TRUTH = {"true": 1.0, "false": 0.0}


@dataclass(frozen=True)
class Column:
    """What the dataset's description says about one column, and where its values are stored
    (``position`` in the float or the string matrix, by ``input``)."""

    name: str
    kind: str
    input: str | None = None
    position: int | None = None
    missing: int = 0
    distinct: int = 0
    note: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def is_missing(cell: str) -> bool:
    return cell in MISSING


def parse_float(cell: str) -> float | None:
    """The cell as a number (maybe infinite), or None; digit separators (``1_000``, which
    Python accepts and pandas does not) make it text."""
    if "_" in cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def parse_number(cell: str) -> float | None:
    """The cell as a finite number, or None."""
    value = parse_float(cell)
    return value if value is not None and math.isfinite(value) else None


def _refuse_infinite(name: str, cells: Sequence[str]) -> None:
    """A column of numbers with an infinite one is a mistake to name, not a column of text."""
    for line, cell in enumerate(cells, start=2):
        value = parse_float(cell)
        if value is not None and not math.isfinite(value):
            raise fail(name, f"Row {line}: {cell[:40]!r} is not a finite number.")


def read_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    target: str,
    limits: UploadLimits,
    column_types: Mapping[str, str],
    numeric_labels: bool = False,
) -> tuple[dict[str, np.ndarray], list[Column], np.ndarray]:
    """The feature columns as a float32 matrix (``x_train``) and a unicode matrix
    (``s_train``), each column's description, and the labels (numbers when every label is one,
    else strings).

    Raises:
        DatasetError: naming the row and column of the first cell that cannot be read as its
            column's kind, or a label that is empty.
    """
    label_at = list(header).index(target)
    labels = _labels([row[label_at] for row in rows], target, numeric_labels)
    floats: list[np.ndarray] = []
    strings: list[tuple[str, int]] = []  # (name, column index) of the string inputs
    described = []
    for index, name in enumerate(header):
        if index == label_at:
            continue
        cells = [row[index] for row in rows]  # as pandas reads them: spaces are kept
        column = _describe(name, cells, column_types.get(name))
        if column.kind == IGNORE:
            described.append(column)
        elif column.input == FLOAT:
            described.append(_at(column, len(floats)))
            floats.append(_floats(name, cells))
        else:
            described.append(_at(column, len(strings)))
            strings.append((name, index))
    if not floats and not strings:
        raise fail("file", "Every feature column is ignored; keep at least one.")
    n = len(rows)
    arrays = {"x_train": np.stack(floats, axis=1) if floats else np.zeros((n, 0), np.float32)}
    if strings:
        arrays["s_train"] = _string_matrix(rows, strings, limits)
    return arrays, described, labels


def _string_matrix(
    rows: Sequence[Sequence[str]], strings: list[tuple[str, int]], limits: UploadLimits
) -> np.ndarray:
    """The string columns as one unicode matrix (every cell at the longest one's width),
    refused before it is allocated when it would pass the unpacked-size limit."""
    width = 1
    for name, index in strings:
        for line, row in enumerate(rows, start=2):
            if len(row[index]) > MAX_CELL_CHARS:
                raise fail(name, f"Row {line}: a cell of {len(row[index]):,} characters; at "
                           f"most {MAX_CELL_CHARS:,}.")  # fmt: skip
            width = max(width, len(row[index]))
    size = len(rows) * len(strings) * 4 * width
    if size > limits.max_decoded_bytes:
        raise fail("file", f"The string columns would take {size:,} bytes as arrays (every "
                   f"cell as wide as the longest, {width} characters); the limit is "
                   f"{limits.max_decoded_bytes:,}.")  # fmt: skip
    matrix = np.empty((len(rows), len(strings)), dtype=f"<U{width}")
    for j, (_, index) in enumerate(strings):
        matrix[:, j] = ["" if is_missing(row[index]) else row[index] for row in rows]
    return matrix


def _at(column: Column, position: int) -> Column:
    return Column(column.name, column.kind, column.input, position, column.missing,
                  column.distinct, column.note)  # fmt: skip


def _labels(cells: list[str], target: str, numeric: bool) -> np.ndarray:
    """Numbers when every label is one, else names; ``numeric`` (a regression) refuses names,
    naming the first one's row."""
    values = []
    for line, cell in enumerate(cells, start=2):
        if is_missing(cell.strip()):
            raise fail(target, f"Row {line}: the label is empty; every row needs one.")
        values.append(cell.strip())
    if all(parse_float(v) is not None for v in values):
        _refuse_infinite(target, values)
    numbers = [parse_number(v) for v in values]
    if all(v is not None for v in numbers):
        return np.asarray(numbers, dtype=np.float64)
    if numeric:
        line = next(i for i, n in enumerate(numbers, start=2) if n is None)
        value = values[line - 2]
        raise fail(target, f"Row {line}: {value[:40]!r} is not a number; a regression needs "
                   "numeric labels.")  # fmt: skip
    return np.asarray(values, dtype=str)


def _describe(name: str, cells: list[str], declared: str | None) -> Column:
    present = [c for c in cells if not is_missing(c)]
    missing, distinct = len(cells) - len(present), len(set(present))
    if declared is not None:
        return _declared(name, cells, declared, missing, distinct)
    if not present:
        return Column(name, IGNORE, missing=missing, note="no values")
    if all(parse_float(c) is not None for c in present):
        _refuse_infinite(name, cells)
    numbers = [parse_number(c) for c in present]
    lowered = {c.lower() for c in present}
    if all(v is not None for v in numbers):
        whole = all(float(v).is_integer() for v in numbers)  # type: ignore[arg-type]
        if whole and distinct == len(cells) >= ID_ROWS_AT_LEAST and _is_range(numbers):
            return Column(name, IGNORE, missing=missing, distinct=distinct,
                          note="id-like: numbers the rows in order")  # fmt: skip
        kind = CATEGORICAL if whole and distinct <= CODES_AT_MOST else NUMERIC
        return Column(name, kind, FLOAT, missing=missing, distinct=distinct)
    if any(lowered <= pair for pair in BOOLEAN_PAIRS):
        source = FLOAT if set(present) <= PANDAS_BOOLEANS else STRING
        return Column(name, BOOLEAN, source, missing=missing, distinct=distinct)
    spaced = sum(" " in c for c in present)
    if spaced * 2 >= len(present) and sum(map(len, present)) / len(present) >= TEXT_MEAN_LENGTH:
        return Column(name, TEXT, STRING, missing=missing, distinct=distinct)
    if distinct == len(cells) >= ID_ROWS_AT_LEAST:
        return Column(name, IGNORE, missing=missing, distinct=distinct,
                      note="id-like: a different value on every row")  # fmt: skip
    return Column(name, CATEGORICAL, STRING, missing=missing, distinct=distinct)


def _declared(name: str, cells: list[str], kind: str, missing: int, distinct: int) -> Column:
    """A column read as the upload said; its cells must fit."""
    present = [(line, c) for line, c in enumerate(cells, start=2) if not is_missing(c)]
    if kind == IGNORE:
        return Column(name, IGNORE, missing=missing, distinct=distinct, note="as declared")
    if kind == NUMERIC:
        _refuse_infinite(name, cells)
        for line, cell in present:
            if parse_number(cell) is None:
                raise fail(name, f"Row {line}: {cell[:40]!r} is not a number, and "
                           "column_types declares this column numeric.")  # fmt: skip
        return Column(name, NUMERIC, FLOAT, missing=missing, distinct=distinct)
    if kind == BOOLEAN:
        lowered = {c.lower() for _, c in present}
        if not any(lowered <= pair for pair in BOOLEAN_PAIRS):
            line, cell = next((x for x in present if not _boolean_word(x[1])), present[0])
            raise fail(name, f"Row {line}: {cell[:40]!r} is not a boolean (true/false, yes/no, "
                       "y/n or t/f, one pair per column).")  # fmt: skip
        source = FLOAT if {c for _, c in present} <= PANDAS_BOOLEANS else STRING
        return Column(name, BOOLEAN, source, missing=missing, distinct=distinct)
    if kind == CATEGORICAL:
        if present and {c for _, c in present} <= PANDAS_BOOLEANS:  # pandas gives booleans
            return Column(name, CATEGORICAL, FLOAT, missing=missing, distinct=distinct,
                          note="true/false: taken as 1/0")  # fmt: skip
        numbers = [parse_number(c) for _, c in present]
        codes = bool(present) and all(v is not None and float(v).is_integer() for v in numbers)
        return Column(name, CATEGORICAL, FLOAT if codes else STRING, missing=missing,
                      distinct=distinct)  # fmt: skip
    return Column(name, TEXT, STRING, missing=missing, distinct=distinct)


def _boolean_word(cell: str) -> bool:
    return any(cell.lower() in pair for pair in BOOLEAN_PAIRS)


def _is_range(numbers: list[float | None]) -> bool:
    values = [float(v) for v in numbers if v is not None]
    return max(values) - min(values) + 1 == len(values)


def _floats(name: str, cells: list[str]) -> np.ndarray:
    out = np.full(len(cells), np.nan, dtype=np.float32)
    for i, cell in enumerate(cells):
        if is_missing(cell):
            continue
        number = _TRUTH.get(cell.lower()) if cell in PANDAS_BOOLEANS else parse_number(cell)
        if number is None or abs(number) > FLOAT32_MAX:
            raise fail(name, f"Row {i + 2}: {cell[:40]!r} cannot be read as a number (or is "
                       "too large for float32).")  # fmt: skip
        out[i] = number
    return out


def check_column_types(value: object, header: Sequence[str], target: str) -> dict[str, str]:
    """The upload's ``column_types`` (a JSON object of column to kind), checked.

    Raises:
        DatasetError: at ``column_types`` or ``column_types.<column>``.
    """
    if not isinstance(value, dict):
        raise fail("column_types", "Must be a JSON object of column name to kind.")
    problems = {}
    for column, kind in value.items():
        if column not in header:
            problems[f"column_types.{column}"[:200]] = [f"No column {str(column)[:80]!r}."]
        elif column == target:
            problems[f"column_types.{column}"] = ["Is the label column; it has no feature kind."]
        elif kind not in KINDS:
            problems[f"column_types.{column}"] = [f"Must be one of {list(KINDS)}."]
    if problems:
        raise DatasetError(dict(list(problems.items())[:20]))
    return {str(k): str(v) for k, v in value.items()}
