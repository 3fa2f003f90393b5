"""Measuring a model on a part of the data with one forward pass, no Keras ``evaluate``.

Why: on small data a trial is mostly framework overhead. Keras's per-epoch validation and
``evaluate``/``predict`` each build a ``tf.data`` iterator (about 10 ms apiece, two per
epoch for validation alone) and trace a fresh graph function for every new model; the
forward pass itself takes a millisecond. Here the model is called directly on chunks of the
rows, and the tracked metrics (the loss, with its regularization terms, and the compiled
accuracy or errors) are computed from those predictions as Keras defines them
(``bench/trial_cost.py`` measures the saving). Backend-agnostic: ``keras.ops`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from service.core.catalog import CLASSIFICATION

CHUNK_ROWS = 1024
"""Rows per forward call, as the scores' ``evaluate`` batches were: bounds the activations
held at once for large conv inputs, and an ``add_loss`` term is averaged over chunks as
Keras averages it over batches."""


def measure(
    model: keras.Model, x: np.ndarray, y: np.ndarray, task: str
) -> tuple[dict[str, float], np.ndarray]:
    """What ``model.evaluate`` would report, and the model's outputs (float32 rows), from
    one pass in inference mode (dropout off, batch-norm statistics frozen).

    The loss is the compiled loss plus the model's own losses (L1/L2 terms, and any
    ``add_loss`` of an operator's layers, taken after each chunk's call, since those hold
    the last call's terms); the metrics are the ones ``worker.engine.models.metrics_for``
    compiles, ``accuracy`` or ``mse`` and ``mae``: change both together."""
    if len(x) == 0:
        raise ValueError("no rows to measure the model on")
    parts, total = [], 0.0
    for start in range(0, len(x), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        outputs = model(x[rows], training=False)
        loss = model.compute_loss(y=y[rows], y_pred=outputs)
        total += float(ops.convert_to_numpy(loss)) * len(x[rows])
        parts.append(ops.convert_to_numpy(outputs))
    predicted = np.concatenate(parts).astype(np.float32, copy=False)
    return {"loss": total / len(x), **compiled_metrics(y, predicted, task)}, predicted


def compiled_metrics(y: np.ndarray, predicted: np.ndarray, task: str) -> dict[str, float]:
    """Keras's ``SparseCategoricalAccuracy`` (the arg-max class) or ``BinaryAccuracy`` (above
    0.5: at exactly 0.5 it says the negative class); ``mse`` and ``mae`` for regression."""
    if task == CLASSIFICATION:
        if predicted.shape[1] > 1:
            labels = predicted.argmax(axis=1)
        else:
            labels = (predicted[:, 0] > 0.5).astype(np.int64)
        return {"accuracy": float(np.mean(labels == y.astype(np.int64)))}
    error = predicted[:, 0] - y.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged model: inf, as Keras
        return {
            "mse": float(np.mean(np.square(error), dtype=np.float32)),
            "mae": float(np.mean(np.abs(error), dtype=np.float32)),
        }


class Validation(keras.callbacks.Callback):
    """Adds ``val_<metric>`` to each epoch's logs from one pass over the validation rows, in
    place of ``model.fit(validation_data=...)``. It must come first among the callbacks:
    Keras hands one logs dict to each in turn, so early stopping, the schedules and the
    epoch reporter read what it adds."""

    def __init__(self, x: np.ndarray, y: np.ndarray, task: str) -> None:
        super().__init__()
        self.x, self.y, self.task = x, y, task

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if not isinstance(logs, dict):  # then early stopping would never see a val_ metric
            raise TypeError(f"Keras passed the epoch's logs as {type(logs).__name__}")
        measured, _ = measure(self.model, self.x, self.y, self.task)
        logs.update({f"val_{name}": value for name, value in measured.items()})
