"""Learning-rate schedules, with optional linear warmup, in backend-agnostic Keras 3.

Per-step schedules (constant, exponential, step, cosine) become a ``LearningRateSchedule`` the
optimizer calls each step. Reduce-on-plateau reacts to validation results, so it is a callback
acting on a plain learning rate; its warmup is a callback too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops


class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial * drop ** floor(step / every)``: the classic "drop every N epochs"."""

    def __init__(self, initial: float, drop: float, every: int) -> None:
        self.initial, self.drop, self.every = initial, drop, every

    def __call__(self, step: Any) -> Any:
        drops = ops.floor(ops.cast(step, "float32") / float(self.every))
        return self.initial * ops.power(self.drop, drops)

    def get_config(self) -> dict[str, Any]:
        return {"initial": self.initial, "drop": self.drop, "every": self.every}


class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Rises linearly to ``peak`` over ``steps``, then follows ``after`` (counted from the end of
    the warmup), or stays at ``peak`` when there is no ``after``."""

    def __init__(
        self,
        peak: float,
        steps: int,
        after: keras.optimizers.schedules.LearningRateSchedule | None = None,
    ) -> None:
        self.peak, self.steps, self.after = peak, steps, after

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        rising = self.peak * (step + 1.0) / float(self.steps)
        later = self.after(ops.maximum(step - self.steps, 0.0)) if self.after else self.peak
        return ops.where(step < self.steps, rising, later)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "steps": self.steps}


class WarmupCallback(keras.callbacks.Callback):
    """Linear warmup for schedules that are callbacks (reduce-on-plateau)."""

    def __init__(self, peak: float, steps: int) -> None:
        super().__init__()
        self.peak, self.steps, self.seen = peak, steps, 0

    def on_train_batch_begin(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.seen < self.steps:
            self.model.optimizer.learning_rate = self.peak * (self.seen + 1) / self.steps
        self.seen += 1


def learning_rate(
    config: Mapping[str, Any], steps_per_epoch: int, max_epochs: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """What the optimizer gets as its learning rate: a number or a per-step schedule."""
    peak = float(config["learning_rate"])
    kind = config["lr_schedule"]
    warmup = int(config["warmup_epochs"]) * steps_per_epoch
    after: keras.optimizers.schedules.LearningRateSchedule | None = None
    if kind == "exponential":
        after = keras.optimizers.schedules.ExponentialDecay(
            peak, int(config["decay_steps"]), float(config["decay_rate"]), config["staircase"]
        )
    elif kind == "step":
        after = StepDecay(peak, float(config["drop"]), int(config["step_epochs"]) * steps_per_epoch)
    elif kind == "cosine":
        decay_steps = max(1, max_epochs * steps_per_epoch - warmup)
        after = keras.optimizers.schedules.CosineDecay(peak, decay_steps)
    if kind == "reduce_on_plateau" or warmup == 0:
        return after if after is not None else peak
    return Warmup(peak, warmup, after)


def schedule_callbacks(
    config: Mapping[str, Any], steps_per_epoch: int, monitor: str
) -> list[keras.callbacks.Callback]:
    """The callbacks a schedule needs (reduce-on-plateau and its warmup); none for the rest."""
    if config["lr_schedule"] != "reduce_on_plateau":
        return []
    callbacks: list[keras.callbacks.Callback] = []
    warmup = int(config["warmup_epochs"]) * steps_per_epoch
    if warmup:
        callbacks.append(WarmupCallback(float(config["learning_rate"]), warmup))
    callbacks.append(
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor,
            factor=float(config["plateau_factor"]),
            patience=int(config["plateau_patience"]),
            mode="max" if monitor.endswith("accuracy") else "min",
            verbose=0,
        )
    )
    return callbacks
