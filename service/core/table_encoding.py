"""How a table's columns become model inputs: the limits both sides share.

The worker encodes each column from the training part (``worker.engine.tables``); the API only
needs to know, before any worker runs, how wide the encoded row can get, to check a model's
size. High-cardinality strings are never refused: one-hot keeps the most frequent categories and
sends the rest to an out-of-vocabulary slot, an embedding keeps many more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class EncodingLimits:
    """Kept with each table at upload (from the server's settings), so that a dataset encodes
    the same way for every job, whatever the settings later become."""

    one_hot: int = 32  # categories a column keeps one-hot (the most frequent)
    embedded: int = 1000  # categories an embedded column keeps
    text_words: int = 200  # words a text column's bag keeps (the most frequent by document)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EncodingLimits:
        return cls(**{k: int(v) for k, v in (data or {}).items() if k in cls.__dataclass_fields__})


def encoded_width(
    columns: Iterable[Mapping[str, object]], limits: EncodingLimits | None = None
) -> int:
    """The widest row the encoding can produce (every categorical column one-hot, a missing
    indicator for every numeric column with empty cells): the model's input width at most."""
    limits = limits or EncodingLimits()
    width = 0
    for column in columns:
        kind = column.get("kind")
        distinct = int(column.get("distinct", 0) or 0)  # type: ignore[call-overload]
        missing = bool(column.get("missing"))
        if kind == "numeric":
            width += 1 + missing
        elif kind in ("categorical", "boolean"):
            width += 1 + min(distinct + missing, limits.one_hot)  # the out-of-vocabulary slot
        elif kind == "text":
            width += 1 + limits.text_words
    return max(width, 1)


@dataclass(frozen=True)
class EmbeddingBound:
    """What an embedding encoding of a table can cost at most: the encoded width without its
    categorical columns, how many categorical columns there are (each an embedding of
    ``embedding_dim``), and the embeddings' rows together (their vocabularies)."""

    dense_width: int = 0
    columns: int = 0
    rows: int = 0

    def width(self, dim: int) -> int:
        return self.dense_width + self.columns * dim

    def params(self, dim: int) -> int:
        return self.rows * dim


def embedding_bound(
    columns: Iterable[Mapping[str, object]], limits: EncodingLimits | None = None
) -> EmbeddingBound:
    limits = limits or EncodingLimits()
    dense, count, rows = 0, 0, 0
    for column in columns:
        kind = column.get("kind")
        if kind in ("categorical", "boolean"):
            distinct = int(column.get("distinct", 0) or 0)  # type: ignore[call-overload]
            count += 1
            rows += 1 + min(distinct + bool(column.get("missing")), limits.embedded)
        elif kind in ("numeric", "text"):
            dense += encoded_width([column], limits)
    return EmbeddingBound(dense, count, rows)
