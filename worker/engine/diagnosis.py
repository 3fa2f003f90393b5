"""Bias/variance diagnosis of the model a trial kept, with advice that fits its configuration.

High bias (underfitting): the kept model does not fit even its training data. High variance
(overfitting): it fits the training data much better than data it has not seen. Both are read
from the training and validation metrics of the kept weights (scored after training, in
inference mode), so they describe the model the trial ends with:

- bias: the training error against a reachable baseline. For classification that is
  ``min(BIAS_ERROR, BIAS_SHARE_OF_CHANCE x chance error)``, where the chance error is what
  always answering the majority class gets wrong: 10 % on digits, 9 % on breast cancer, 1.25 %
  when 95 % of the rows are one class. For regression, a training R² under ``BIAS_R2``.
- variance: the gap between validation and training error (1 - R² for regression), counted
  only when it is both over a floor (``VARIANCE_GAP``, ``VARIANCE_GAP_R2``) and large relative
  to the training error (over ``VARIANCE_SHARE`` of it): a 0.99/0.97 model is a good fit; an
  0.80/0.60 one overfits as well as underfits.
- the learning curve (validation loss ending well above its best) only when the kept weights
  are the last epoch's: early stopping that restored its best weights kept the best epoch, so
  the patience epochs after it say nothing about the kept model.

Advice names the knob and its current value, and follows the configuration: no "stop earlier"
when the best epoch was restored, no "raise dropout" when it is at the top of its searched
range (widen the range instead), no "regularize less" when nothing regularizes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.core.catalog import CLASSIFICATION
from service.core.spec import Dimension, JobSpec
from worker.engine.results import FitResult

BIAS_ERROR = 0.10
BIAS_SHARE_OF_CHANCE = 0.25
BIAS_R2 = 0.70
VARIANCE_GAP = 0.03
VARIANCE_GAP_R2 = 0.05
VARIANCE_SHARE = 0.25
# Validation loss this much above its best at the end of the kept curve is overfitting too.
LATE_LOSS_RISE = 0.10
SATURATING = ("sigmoid", "tanh")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fit:
    """What the diagnosis reads about how the trial trained."""

    kept_last_epoch: bool  # no restored best epoch: the curve's end is the kept model
    chance_error: float | None = None  # classification: error of the majority-class answer
    ran_all_epochs: bool = False

    @classmethod
    def of(cls, result: FitResult, spec: JobSpec) -> Fit:
        return cls(
            kept_last_epoch=not result.restored_best,
            chance_error=result.chance_error,
            ran_all_epochs=len(result.history.get("loss", [])) >= spec.training.max_epochs,
        )


def diagnosis_of(
    result: FitResult, spec: JobSpec, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The trial's diagnosis, or None (logged) when it cannot be made: a fault here costs the
    diagnosis, never the trial's result."""
    try:
        return diagnose(result.metrics, result.history, spec, config, Fit.of(result, spec))
    except Exception:
        log.exception("no diagnosis for this trial")
        return None


def diagnose(
    metrics: Mapping[str, float],
    history: Mapping[str, list[float]],
    spec: JobSpec,
    config: Mapping[str, Any],
    fit: Fit,
) -> dict[str, Any]:
    """``{"label", "high_bias", "high_variance", "evidence", "advice"}`` for one trial."""
    if spec.task == CLASSIFICATION:
        train_error = 1.0 - metrics.get("accuracy", 0.0)
        val_error = 1.0 - metrics.get("val_accuracy", 0.0)
        floor = BIAS_ERROR
        if fit.chance_error is not None:
            floor = min(BIAS_ERROR, BIAS_SHARE_OF_CHANCE * fit.chance_error)
        high_bias = train_error > floor
        gap_floor = VARIANCE_GAP
        evidence = [
            f"training error {train_error:.3f} (reachable: under {floor:.3f}), validation error "
            f"{val_error:.3f} (gap {val_error - train_error:+.3f})"
        ]
    else:
        train_r2, val_r2 = metrics.get("r2", 0.0), metrics.get("val_r2", 0.0)
        train_error, val_error = 1.0 - train_r2, 1.0 - val_r2
        high_bias = train_r2 < BIAS_R2
        gap_floor = VARIANCE_GAP_R2
        evidence = [f"training R² {train_r2:.3f} (reachable: over {BIAS_R2}), validation R² "
                    f"{val_r2:.3f}"]  # fmt: skip
    gap = val_error - train_error
    high_variance = gap > gap_floor and gap > VARIANCE_SHARE * train_error
    val_loss = history.get("val_loss") or []
    if fit.kept_last_epoch and len(val_loss) >= 3:
        best = min(val_loss)
        if val_loss[-1] > best + LATE_LOSS_RISE * abs(best):
            high_variance = True
            evidence.append(
                f"validation loss ended at {val_loss[-1]:.4g}, above its best {best:.4g} "
                f"(epoch {val_loss.index(best) + 1} of {len(val_loss)}), and the last "
                "epoch's weights were kept"
            )
    if high_bias and high_variance:
        label = "underfitting_and_overfitting"
    elif high_bias:
        label = "underfitting"
    elif high_variance:
        label = "overfitting"
    else:
        label = "good_fit"
    advisor = _Advisor(spec, config, fit)
    advice = (advisor.underfit() if high_bias else []) + (
        advisor.overfit() if high_variance else []
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


class _Advisor:
    """Advice on one configuration, aware of what was searched and over which range."""

    def __init__(self, spec: JobSpec, config: Mapping[str, Any], fit: Fit) -> None:
        self.spec, self.config, self.fit = spec, config, fit
        self.space: Mapping[str, Dimension] = spec.search_space

    def _value(self, name: str) -> str:
        value = self.config.get(name)
        return f"{value:g}" if isinstance(value, float) else str(value)

    def _raise(self, name: str, what: str) -> str | None:
        """Raise X within what is searched; at its top, search higher; search X when fixed."""
        if name not in self.config:
            return None
        now, dim = self.config[name], self.space.get(name)
        if dim is None:
            return f"{what}: search {name} (now {self._value(name)}, not searched)."
        top = _top(dim)
        if top is None or not isinstance(now, int | float):
            return f"{what}: try other values of {name} (now {self._value(name)})."
        if now < 0.95 * top:
            return f"{what}: raise {name} (now {self._value(name)}, searched up to {top:g})."
        higher = f"widen search_space.{name}.high" if dim.high is not None else "add larger choices"
        return f"{what}: {name} is at the top of what is searched ({self._value(name)}); {higher}."

    def overfit(self) -> list[str]:
        stopping = self.spec.training.early_stopping
        advice = [
            self._raise("l2", "Regularize more"),
            self._raise("dropout", "Drop out more"),
            "Get more training data, or augment it.",
        ]
        if not stopping.enabled:
            advice.append("Stop at the best epoch: turn on training.early_stopping with "
                          "restore_best_weights.")  # fmt: skip
        elif not stopping.restore_best_weights:
            advice.append("Keep the best epoch: set early_stopping.restore_best_weights.")
        if int(self.config.get("n_layers") or 0) > 0:
            advice.append(f"Try a smaller model: fewer layers (now {self._value('n_layers')}) "
                          f"or units (now {self._value('units')}).")  # fmt: skip
        elif "filters" in self.config:
            advice.append(f"Try a smaller model: fewer filters (now {self._value('filters')}) "
                          f"or conv_blocks (now {self._value('conv_blocks')}).")  # fmt: skip
        return [a for a in advice if a]

    def underfit(self) -> list[str]:
        stopping = self.spec.training.early_stopping
        advice = [
            self._raise("units", "Add capacity"),
            self._raise("n_layers", "Add depth"),
            self._raise("learning_rate", "Learn faster"),
        ]
        if self.config.get("activation") in SATURATING:
            advice.append(f"Try a non-saturating activation (now {self.config['activation']}): "
                          "relu, gelu or elu.")  # fmt: skip
        if self.config.get("optimizer") == "sgd" and not self.config.get("momentum"):
            advice.append("Plain SGD is slow: add momentum (0.9) or try adam.")
        if self.fit.ran_all_epochs:
            advice.append(f"Train longer: it used all {self.spec.training.max_epochs} epochs; "
                          "raise training.max_epochs.")  # fmt: skip
        elif stopping.enabled:
            advice.append(f"Stop later: raise early_stopping.patience (now {stopping.patience}).")
        penalties = [n for n in ("l1", "l2", "dropout") if self.config.get(n)]
        if penalties:
            now = ", ".join(f"{n} {self._value(n)}" for n in penalties)
            advice.append(f"Regularize less: lower {now}.")
        return [a for a in advice if a]


def _top(dim: Dimension) -> float | None:
    """The largest value a dimension searches: its high end, or its largest numeric choice."""
    if dim.high is not None:
        return float(dim.high)
    choices = dim.choices or ()
    numbers = [c for c in choices if isinstance(c, int | float) and not isinstance(c, bool)]
    return float(max(numbers)) if numbers else None
