"""The model a job ships: the trained model behind the preprocessing its training data had, so it
takes features as they were uploaded, saved as a ``.keras`` file that loads with nothing but
Keras.

A matrix dataset's model takes raw feature vectors (its standardization is a ``Normalization``
layer). A table's takes a dict of columns keyed by the CSV header: floats (NaN where empty) for
numeric, integer-coded and true/false columns, strings for the others, as
``pandas.read_csv(...).to_dict("list")`` gives them. The file also holds ``tuneq.json``: the
class names in output order and the input signature, readable with ``zipfile`` alone.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from worker.engine.scaling import FeatureScaler
from worker.engine.tables import TableEncoder

METADATA = "tuneq.json"


def served_model(model: keras.Model, features: FeatureScaler | TableEncoder) -> keras.Model:
    """``model`` behind its preprocessing, as one model that takes raw features."""
    if isinstance(features, TableEncoder):
        try:
            inputs, encoded = features.front()
            return keras.Model(inputs, model(encoded), name=f"tuneq_{model.name}")
        except ValueError as exc:  # a column name Keras refuses, or one its own layers use
            if "name" not in str(exc):
                raise
            inputs, encoded = features.front(named=False)
            with warnings.catch_warnings():  # the dict's keys are the columns: what is matched
                warnings.simplefilter("ignore", UserWarning)
                served = model(encoded, training=False)
                return keras.Model(inputs, served, name=f"tuneq_{model.name}")
    raw = keras.Input(shape=model.input_shape[1:], name="raw_features")
    scale = np.where(features.scale_ == 0, 1.0, features.scale_)
    normalize = keras.layers.Normalization(
        mean=features.mean_.astype(np.float32),
        variance=(scale**2).astype(np.float32),
        name="standardize",
    )
    served = model(normalize(raw), training=False)  # augmentation only ever while training
    return keras.Model(raw, served, name=f"tuneq_{model.name}")


def served_input(features: FeatureScaler | TableEncoder, x: np.ndarray) -> Any:
    """Raw rows as the served model takes them: the matrix, or a table's dict of columns."""
    if not isinstance(features, TableEncoder):
        return x
    out: dict[str, Any] = {}
    for j, part in enumerate(features.parts):
        column = x[:, j]
        if features.takes_strings(j):
            out[part.name] = keras.ops.convert_to_tensor(column.astype(str).astype(object))
        else:
            out[part.name] = keras.ops.convert_to_tensor(column.astype(np.float32))
    return out


def signature(features: FeatureScaler | TableEncoder, shape: Sequence[int]) -> dict[str, Any]:
    """What the served model takes, as ``GET /v1/jobs/{id}`` and ``tuneq.json`` say it."""
    if not isinstance(features, TableEncoder):  # flat: the model reshapes for conv families
        return {"type": "array", "sample_shape": [int(np.prod(shape))]}
    columns = {
        part.name: "string" if features.takes_strings(j) else "float32"
        for j, part in enumerate(features.parts)
    }
    return {"type": "columns", "columns": columns}


def model_bytes(served: keras.Model, metadata: dict[str, Any]) -> bytes:
    """The served model as ``.keras`` bytes, with ``metadata`` as its ``tuneq.json``."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        served.save(path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(METADATA, json.dumps(metadata, indent=2, sort_keys=True))
        with open(path, "rb") as file:
            return file.read()
