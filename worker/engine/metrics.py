"""Scoring a trained model on one part of the data: every metric of ``catalog.METRICS``.

Keras tracks the per-epoch ones (loss, accuracy / mse, mae); AUC, macro precision, recall and
F1, RMSE and R² are computed from the predictions with scikit-learn, which defines them the way
people compare them (macro averages, one-vs-rest AUC).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from sklearn import metrics as sk

from service.core.catalog import CLASSIFICATION


def score(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    n_classes: int | None,
    prefix: str = "",
) -> dict[str, float]:
    """``{prefix + name: value}`` for every metric the task reports that is defined on ``y``
    (AUC is left out when only one class is present)."""
    tracked = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=1024)
    out = {name: float(value) for name, value in tracked.items()}
    predicted = np.asarray(model.predict(x, verbose=0, batch_size=1024), dtype=np.float64)
    if task == CLASSIFICATION:
        out.update(_classification(y, predicted, int(n_classes or 2)))
    else:
        out.update(_regression(y, predicted[:, 0]))
    return {f"{prefix}{name}": value for name, value in out.items()}


def _classification(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, float]:
    if n_classes > 2:
        labels = predicted.argmax(axis=1)
        proba = predicted / predicted.sum(axis=1, keepdims=True)
    else:
        proba = predicted[:, 0]
        labels = (proba >= 0.5).astype(np.int64)
    classes = list(range(n_classes))
    out = {
        "precision": sk.precision_score(
            y, labels, labels=classes, average="macro", zero_division=0
        ),
        "recall": sk.recall_score(y, labels, labels=classes, average="macro", zero_division=0),
        "f1": sk.f1_score(y, labels, labels=classes, average="macro", zero_division=0),
    }
    if len(np.unique(y)) == n_classes:
        if n_classes > 2:
            auc = sk.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
        else:
            auc = sk.roc_auc_score(y, proba)
        out["auc"] = auc
    return {name: float(value) for name, value in out.items()}


def _regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    mse = float(np.mean((y.astype(np.float64) - predicted) ** 2))
    return {"rmse": math.sqrt(mse), "r2": float(sk.r2_score(y, predicted))}
