"""Bias/variance diagnosis of a trained configuration, with advice a person can act on.

High bias (underfitting): the model does not fit even its training data. High variance
(overfitting): it fits the training data much better than data it has not seen. Both are read
from the training and validation metrics of the kept weights, with the thresholds below, and
from the learning curve (validation loss rising long after its best epoch).

Thresholds (documented in the README):

- classification, on accuracy: underfitting when the training error (1 - accuracy) exceeds
  ``UNDERFIT_ERROR`` (0.10); overfitting when the validation error exceeds the training error by
  more than ``OVERFIT_GAP`` (0.05).
- regression, on R²: underfitting when the training R² is below ``UNDERFIT_R2`` (0.70);
  overfitting when the validation R² is more than ``OVERFIT_R2_GAP`` (0.10) below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.core.catalog import CLASSIFICATION

UNDERFIT_ERROR = 0.10
OVERFIT_GAP = 0.05
UNDERFIT_R2 = 0.70
OVERFIT_R2_GAP = 0.10
# Validation loss this much above its best, at the end of the curve, is overfitting too.
LATE_LOSS_RISE = 0.10


def diagnose(
    metrics: Mapping[str, float],
    history: Mapping[str, list[float]],
    task: str,
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """``{"label", "high_bias", "high_variance", "evidence", "advice"}`` for one trial."""
    evidence: list[str] = []
    if task == CLASSIFICATION:
        train_error = 1.0 - metrics.get("accuracy", 0.0)
        val_error = 1.0 - metrics.get("val_accuracy", 0.0)
        high_bias = train_error > UNDERFIT_ERROR
        high_variance = val_error - train_error > OVERFIT_GAP
        evidence.append(
            f"training error {train_error:.3f}, validation error {val_error:.3f} "
            f"(gap {val_error - train_error:+.3f})"
        )
    else:
        train_r2, val_r2 = metrics.get("r2", 0.0), metrics.get("val_r2", 0.0)
        high_bias = train_r2 < UNDERFIT_R2
        high_variance = train_r2 - val_r2 > OVERFIT_R2_GAP
        evidence.append(f"training R² {train_r2:.3f}, validation R² {val_r2:.3f}")
    val_loss = history.get("val_loss") or []
    if len(val_loss) >= 3:
        best = min(val_loss)
        if val_loss[-1] > best + LATE_LOSS_RISE * abs(best):
            high_variance = True
            evidence.append(
                f"validation loss ended at {val_loss[-1]:.4g}, above its best {best:.4g} "
                f"(epoch {val_loss.index(best) + 1} of {len(val_loss)})"
            )
    if high_bias and high_variance:
        label = "underfitting_and_overfitting"
    elif high_bias:
        label = "underfitting"
    elif high_variance:
        label = "overfitting"
    else:
        label = "good_fit"
    advice = (_underfit_advice(config) if high_bias else []) + (
        _overfit_advice(config) if high_variance else []
    )
    if not advice:
        advice = ["The fit is good: more trials or a wider search may still find a better one."]
    return {
        "label": label,
        "high_bias": high_bias,
        "high_variance": high_variance,
        "evidence": evidence,
        "advice": advice,
    }


def _overfit_advice(config: Mapping[str, Any]) -> list[str]:
    return [
        f"Regularize more: raise l2 (now {config.get('l2', 0):g}) or l1 "
        f"(now {config.get('l1', 0):g}).",
        f"Raise dropout (now {config.get('dropout', 0):g}).",
        "Get more training data, or augment it.",
        "Stop earlier: lower early_stopping.patience, with restore_best_weights on.",
        "Try a smaller model: fewer layers or units.",
    ]


def _underfit_advice(config: Mapping[str, Any]) -> list[str]:
    return [
        f"Add capacity: more units (now {config.get('units', '?')}) or layers "
        f"(now {config.get('n_layers', '?')}).",
        f"Try another activation (now {config.get('activation', '?')}), such as gelu or elu.",
        f"Raise the learning rate (now {config.get('learning_rate', 0):g}) or add warmup "
        "with a decaying schedule.",
        "Train longer: raise training.max_epochs or early_stopping.patience.",
        "Regularize less: lower l1, l2 and dropout.",
    ]
