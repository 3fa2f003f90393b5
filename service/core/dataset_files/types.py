"""What parsing an upload produces, what it is checked against, and how it fails."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field

import numpy as np

from service.core.catalog import CLASSIFICATION

ARRAY_NAMES = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


class DatasetError(ValueError):
    """What is wrong with an upload, keyed by the part of it (``x_train``, ``file``, a column)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


def fail(where: str, message: str) -> DatasetError:
    return DatasetError({where: [message]})


@dataclass(frozen=True)
class UploadLimits:
    max_rows: int = 1_000_000
    max_features: int = 10_000
    # All arrays together, once decompressed: what an upload may cost the API in memory (it
    # holds them about three times over while it checks and stores them).
    max_decoded_bytes: int = 128 * 1024 * 1024
    # A member that unpacks to more than this many times its packed size is refused: no real
    # dataset compresses like a bomb does (all zeros: 1000:1).
    max_ratio: float = 100.0

    @property
    def max_table_cells(self) -> int:
        """A table read cell by cell (strings, empty cells) holds a Python string per cell while
        it is checked, some 50-100 bytes each: at most this many cells (4M by default)."""
        return self.max_decoded_bytes // 32


@dataclass
class ParsedDataset:
    """Arrays ready to store: float32 features (2-D; NaN for empty cells of a table), a table's
    string columns (``s_*``, unicode), int64 class indices or float32 targets."""

    task: str
    arrays: dict[str, np.ndarray]
    image_shape: tuple[int, ...] | None = None
    classes: list[int | float | str] | None = None
    columns: list[str] | None = None
    source_format: str = "npz"
    extra: dict[str, object] = field(default_factory=dict)
    # each column's description when the table was read column by column (``columns.Column``
    # as dicts): the exported model then takes a dict of columns, and the worker encodes them
    table: list[dict[str, object]] | None = None
    # how a table's columns are encoded (``table_encoding.EncodingLimits``), kept with it
    limits: dict[str, int] = field(default_factory=dict)

    @property
    def tabular(self) -> bool:
        return self.table is not None

    @property
    def n_features(self) -> int:
        return int(self.arrays["x_train"].shape[1])

    @property
    def min_class_count(self) -> int | None:
        if self.task != CLASSIFICATION:
            return None
        counts = np.bincount(self.arrays["y_train"], minlength=len(self.classes or ()))
        return int(counts.min())

    def content_id(self, tenant: str) -> str:
        """The SHA-256 of whose dataset it is and what it is (task and arrays): a tenant's same
        data gets one id, and another tenant's the same data another, so that ids never tell
        one tenant what another holds."""
        digest = hashlib.sha256(f"{tenant}\0{self.task}".encode())
        digest.update(repr(self.image_shape).encode())
        if self.table is not None:
            digest.update(self.schema().encode())
        # the upload arrays in their fixed order (so ids stay what they were), then a table's
        names = [n for n in ARRAY_NAMES if n in self.arrays]
        for name in names + sorted(set(self.arrays) - set(names)):
            array = self.arrays[name]
            if array is not None:
                digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def schema(self) -> str:
        """What the worker needs to read a table's columns back: their descriptions and the
        class names, as JSON."""
        return json.dumps(
            {"columns": self.table, "classes": self.classes, "limits": self.limits},
            sort_keys=True,
        )

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        extra = {"schema": np.asarray(self.schema())} if self.table is not None else {}
        np.savez(buffer, **self.arrays, **extra)
        return buffer.getvalue()
