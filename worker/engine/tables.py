"""A table's columns as model inputs: encoded from the training part, and built into the model.

``TableEncoder`` learns every statistic from the rows it is fitted on (a trial's fit part, a
fold, the refit's training part), never from validation or test rows:

- numeric: the median fills empty cells, a 0/1 indicator says which were empty (when the
  training rows had any), then the column is standardized;
- categorical and boolean: a vocabulary of the most frequent values, an empty cell being a value
  of its own; unseen values share one out-of-vocabulary slot. One-hot, or (``embedding``) an
  index that the model's own ``Embedding`` layer reads;
- text: a bag of words over the most frequent words.

Training reads the encoded matrix that ``transform`` computes in NumPy, once per fit, so every
epoch costs what a plain matrix does. ``front`` builds the same computation from Keras layers
(``Normalization``, ``StringLookup``, ``IntegerLookup``, ``TextVectorization``) and
``keras.ops``, which the exported model puts before the trained one, so it takes raw columns
and loads with nothing but Keras. String inputs need a backend with string tensors
(TensorFlow).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from service.core.table_encoding import EncodingLimits

NO_WORDS = "[no words]"
"""A text column's vocabulary when its training rows hold no word: a token that standardization
can never produce (its brackets and space are stripped or split), so the bag stays empty."""
MISSING_CODE = -(2**53)
"""An empty cell of an integer-coded column, as the model's integer lookup sees it."""
UNKNOWN_CODE = -(2**62)
"""The integer lookup's out-of-vocabulary token (never a value of the data)."""
_PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}]")
_ASCII_SPACE = re.compile("[ \t\n\x0b\x0c\r]+")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def words(text: str) -> set[str]:
    """A cell's words exactly as ``TextVectorization``'s default standardization and split give
    them: ASCII letters lowercased, ASCII punctuation removed, split on ASCII whitespace (what
    TensorFlow's string ops do; Python's own ``lower`` and ``split`` also touch other scripts'
    letters and spaces, which the exported model would not)."""
    stripped = _PUNCTUATION.sub("", text.translate(_ASCII_LOWER))
    return {word for word in _ASCII_SPACE.split(stripped) if word}


@dataclass
class _Numeric:
    name: str
    median: float = 0.0
    mean: float = 0.0
    scale: float = 1.0
    indicator: bool = False


@dataclass
class _Category:
    name: str
    numbers: bool  # an integer-coded or true/false column (float input), else strings
    embedded: bool
    vocabulary: list[Any] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.vocabulary) + 1  # index 0: out of vocabulary


@dataclass
class _Text:
    name: str
    vocabulary: list[str] = field(default_factory=list)


Encoding = _Numeric | _Category | _Text


class TableEncoder:
    """Encodes the object matrix ``worker.engine.dataset_loader`` gives a table (one column per
    model input, floats with NaN or strings) into a float32 matrix: the dense part first, then
    one index column per embedded categorical column (``embedded`` holds their sizes)."""

    def __init__(
        self,
        columns: Sequence[Mapping[str, Any]],
        encoding: str = "one_hot",
        limits: EncodingLimits | None = None,
    ) -> None:
        self.limits = limits or EncodingLimits()
        self.parts: list[Encoding] = []
        for column in columns:
            name, kind = str(column["name"]), column["kind"]
            if kind == "numeric":
                self.parts.append(_Numeric(name))
            elif kind == "text":
                self.parts.append(_Text(name))
            else:
                numbers = column["input"] == "float32"
                self.parts.append(_Category(name, numbers, encoding == "embedding"))

    @property
    def embedded(self) -> list[int]:
        return [p.size for p in self.parts if isinstance(p, _Category) and p.embedded]

    def takes_strings(self, j: int) -> bool:
        """Whether the ``j``-th input column is a string one (else floats)."""
        part = self.parts[j]
        return isinstance(part, _Text) or (isinstance(part, _Category) and not part.numbers)

    @property
    def width(self) -> int:
        """The encoded row's width (once fitted)."""
        total = 0
        for part in self.parts:
            if isinstance(part, _Numeric):
                total += 1 + part.indicator
            elif isinstance(part, _Category):
                total += 1 if part.embedded else part.size
            else:
                total += len(part.vocabulary) + 1
        return total

    def fit(self, x: np.ndarray) -> TableEncoder:
        for j, part in enumerate(self.parts):
            values = x[:, j]
            if isinstance(part, _Numeric):
                numbers = values.astype(np.float64)
                empty = np.isnan(numbers)
                part.median = float(np.median(numbers[~empty])) if (~empty).any() else 0.0
                filled = np.where(empty, part.median, numbers)
                part.mean, std = float(filled.mean()), float(filled.std())
                part.scale = std if std > 0 else 1.0
                part.indicator = bool(empty.any())
            elif isinstance(part, _Category):
                cap = self.limits.embedded if part.embedded else self.limits.one_hot
                counts = Counter(self._keys(part, values).tolist())
                ranked = sorted(counts, key=lambda v: (-counts[v], str(v)))
                part.vocabulary = ranked[:cap]
            else:
                documents = Counter(w for cell in values for w in words(str(cell)))
                ranked = sorted(documents, key=lambda w: (-documents[w], w))
                part.vocabulary = ranked[: self.limits.text_words] or [NO_WORDS]
        return self

    @staticmethod
    def _keys(part: _Category, values: np.ndarray) -> np.ndarray:
        """The lookup keys: integer codes (empty cells a code of their own) or the strings."""
        if not part.numbers:
            return values.astype(str)
        numbers = values.astype(np.float64)
        return np.where(np.isnan(numbers), MISSING_CODE, numbers).astype(np.int64)

    def transform(self, x: np.ndarray) -> np.ndarray:
        dense: list[np.ndarray] = []
        indices: list[np.ndarray] = []
        for j, part in enumerate(self.parts):
            values = x[:, j]
            if isinstance(part, _Numeric):
                numbers = values.astype(np.float64)
                empty = np.isnan(numbers)
                dense.append((np.where(empty, part.median, numbers) - part.mean) / part.scale)
                if part.indicator:
                    dense.append(empty.astype(np.float64))
            elif isinstance(part, _Category):
                index = {v: i + 1 for i, v in enumerate(part.vocabulary)}
                codes = np.asarray([index.get(k, 0) for k in self._keys(part, values).tolist()])
                if part.embedded:
                    indices.append(codes.astype(np.float64))
                else:
                    dense.extend(np.eye(part.size)[codes].T)
            else:
                index = {w: i + 1 for i, w in enumerate(part.vocabulary)}
                bags = np.zeros((len(values), len(part.vocabulary) + 1))
                for row, cell in enumerate(values):
                    for word in words(str(cell)):
                        bags[row, index.get(word, 0)] = 1.0
                dense.extend(bags.T)
        columns = dense + indices
        if not columns:
            return np.zeros((len(x), 0), dtype=np.float32)
        return np.stack(columns, axis=1).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def front(self, named: bool = True) -> tuple[dict[str, Any], Any]:
        """Keras inputs keyed by column name and the encoded matrix computed from them, the
        same as ``transform`` (float32 arithmetic aside). The inputs are named after their
        columns when ``named`` (Keras refuses some names: then ``column_<j>``)."""
        inputs: dict[str, Any] = {}
        dense: list[Any] = []
        indices: list[Any] = []
        for j, part in enumerate(self.parts):
            layer = part.name if named else f"column_{j}"
            if isinstance(part, _Numeric):
                value = inputs[part.name] = keras.Input(shape=(1,), name=layer)
                empty = keras.ops.isnan(value)
                filled = keras.ops.where(empty, part.median, value)
                dense.append((filled - part.mean) / part.scale)
                if part.indicator:
                    dense.append(keras.ops.cast(empty, "float32"))
            elif isinstance(part, _Category):
                mode = "int" if part.embedded else "one_hot"
                if part.numbers:
                    value = inputs[part.name] = keras.Input(shape=(1,), name=layer)
                    codes = keras.ops.cast(
                        keras.ops.where(keras.ops.isnan(value), float(MISSING_CODE), value),
                        "int64",
                    )
                    lookup = keras.layers.IntegerLookup(
                        vocabulary=np.asarray(part.vocabulary, np.int64),
                        oov_token=UNKNOWN_CODE, output_mode=mode, name=f"lookup_{j}",
                    )  # fmt: skip
                else:
                    value = inputs[part.name] = keras.Input(shape=(1,), dtype="string", name=layer)
                    codes = value
                    lookup = keras.layers.StringLookup(
                        vocabulary=part.vocabulary, output_mode=mode,
                        name=f"lookup_{j}",
                    )  # fmt: skip
                encoded = keras.ops.cast(lookup(codes), "float32")
                (indices if part.embedded else dense).append(encoded)
            else:
                value = inputs[part.name] = keras.Input(shape=(1,), dtype="string", name=layer)
                bag = keras.layers.TextVectorization(
                    vocabulary=part.vocabulary, output_mode="multi_hot",
                    name=f"words_{j}",
                )  # fmt: skip
                dense.append(keras.ops.cast(bag(keras.ops.reshape(value, (-1,))), "float32"))
        columns = [keras.ops.reshape(c, (-1, c.shape[-1] or 1)) for c in dense + indices]
        encoded = columns[0] if len(columns) == 1 else keras.layers.Concatenate()(columns)
        return inputs, encoded
