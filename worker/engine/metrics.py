"""Scoring a trained model on one part of the data: every metric of ``catalog.METRICS``.

The ones Keras tracks per epoch (loss, accuracy / mse, mae) come from one forward pass, as
Keras computes them (``worker.engine.evaluation``); AUC, macro precision, recall and F1,
balanced accuracy, RMSE and R² are computed from the predictions with scikit-learn, which
defines them the way people compare them (macro averages, one-vs-rest AUC).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import keras
import numpy as np
from sklearn import metrics as sk

from service.core.catalog import CLASSIFICATION
from worker.engine.evaluation import measure


def score(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    task: str,
    n_classes: int | None,
    prefix: str = "",
) -> dict[str, float]:
    """``{prefix + name: value}`` for every metric the task reports that is defined on ``y``
    (AUC is left out when only one class is present), from one forward pass
    (``worker.engine.evaluation``)."""
    tracked, predicted = measure(model, x, y, task)
    return from_predictions(tracked, y, predicted, task, n_classes, prefix)


def from_predictions(
    tracked: Mapping[str, float],
    y: np.ndarray,
    predicted: np.ndarray,
    task: str,
    n_classes: int | None,
    prefix: str = "",
) -> dict[str, float]:
    """``score``'s answer from the metrics Keras tracks (the loss...) and the predictions."""
    out = {name: float(value) for name, value in tracked.items()}
    predicted = np.asarray(predicted, dtype=np.float64)
    if task == CLASSIFICATION:
        out.update(_classification(y, predicted, int(n_classes or 2)))
    else:
        out.update(_regression(y, predicted[:, 0]))
    return {f"{prefix}{name}": value for name, value in out.items()}


def _classification(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, float]:
    labels, proba = _labels(predicted, n_classes)
    classes = list(range(n_classes))
    out = {
        "precision": sk.precision_score(
            y, labels, labels=classes, average="macro", zero_division=0
        ),
        "recall": sk.recall_score(y, labels, labels=classes, average="macro", zero_division=0),
        "f1": sk.f1_score(y, labels, labels=classes, average="macro", zero_division=0),
        "balanced_accuracy": _balanced(y, labels),
    }
    if (auc := _auc(y, proba, n_classes)) is not None:
        out["auc"] = auc
    return {name: float(value) for name, value in out.items()}


def _labels(predicted: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The predicted class of each row, and the probabilities AUC reads (the positive class's
    alone for two classes)."""
    if n_classes > 2:
        return predicted.argmax(axis=1), predicted / predicted.sum(axis=1, keepdims=True)
    return (predicted[:, 0] >= 0.5).astype(np.int64), predicted[:, 0]


def _balanced(y: np.ndarray, labels: np.ndarray) -> float:
    with warnings.catch_warnings():  # a class predicted but absent from y: scikit-learn warns
        warnings.simplefilter("ignore", UserWarning)
        return float(sk.balanced_accuracy_score(y, labels))


def _auc(y: np.ndarray, proba: np.ndarray, n_classes: int) -> float | None:
    """Macro one-vs-rest AUC; None unless every class is present."""
    if len(np.unique(y)) != n_classes:
        return None
    if n_classes > 2:
        classes = list(range(n_classes))
        return float(sk.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes))
    return float(sk.roc_auc_score(y, proba))


def _regression(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    mse = float(np.mean((y.astype(np.float64) - predicted) ** 2))
    return {"rmse": math.sqrt(mse), "r2": float(sk.r2_score(y, predicted))}


def standard_error(
    metric: str,
    y: np.ndarray,
    predicted: np.ndarray,
    task: str,
    n_classes: int | None,
    *,
    regression_loss: str = "mse",
    draws: int = 200,
) -> float | None:
    """The bootstrap standard error of ``metric`` (a base name: ``accuracy``, ``f1``...) on these
    predictions: how much the score would move on another sample of the same size. Bootstrap,
    because it holds for every metric alike (AUC and macro F1 have no simple formula); the loss
    is the data term only (no L1/L2 penalty: that does not vary with the sample)."""
    rng, classes = np.random.default_rng(0), int(n_classes or 2)
    values = []
    for _ in range(draws):
        pick = rng.integers(0, len(y), len(y))
        value = _metric(metric, y[pick], predicted[pick], task, classes, regression_loss)
        if value is not None and math.isfinite(value):
            values.append(value)
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def _metric(
    name: str, y: np.ndarray, predicted: np.ndarray, task: str, n_classes: int, loss: str
) -> float | None:
    """One metric from predictions (None where it is undefined on them, as AUC on one class)."""
    if task != CLASSIFICATION:
        error = y.astype(np.float64) - predicted[:, 0]
        if name == "loss":
            name = {"mae": "mae", "huber": "huber"}.get(loss, "mse")
        if name == "huber":  # Keras's default delta of 1
            small = np.abs(error) <= 1.0
            return float(np.mean(np.where(small, 0.5 * error**2, np.abs(error) - 0.5)))
        if name == "mae":
            return float(np.mean(np.abs(error)))
        if name in ("mse", "rmse"):
            mse = float(np.mean(error**2))
            return math.sqrt(mse) if name == "rmse" else mse
        return _regression(y, predicted[:, 0])[name] if len(y) > 1 else None
    labels, proba = _labels(predicted, n_classes)
    if name == "auc":
        return _auc(y, proba, n_classes)
    eps = 1e-7
    if n_classes > 2:
        chosen = predicted[np.arange(len(y)), y.astype(np.int64)]
    else:
        p = np.clip(predicted[:, 0], eps, 1 - eps)
        chosen = np.where(y == 1, p, 1 - p)
    if name == "accuracy":
        return float(np.mean(labels == y))
    if name == "balanced_accuracy":
        return _balanced(y, labels)
    if name == "loss":
        return float(-np.mean(np.log(np.clip(chosen, eps, 1.0))))
    macro = {"precision": sk.precision_score, "recall": sk.recall_score, "f1": sk.f1_score}
    return float(
        macro[name](y, labels, labels=list(range(n_classes)), average="macro", zero_division=0)
    )
