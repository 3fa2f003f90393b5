"""The learning-rate range test (Smith, 2017): train the fixed configuration while the learning
rate rises exponentially, record loss against learning rate, and read off a good rate.

The suggestion is the rate where the smoothed loss falls fastest (per log-step of the rate),
which sits below the rate of lowest loss; the suggested search range spans a decade around it,
capped at the rate of lowest loss, as a log-scale dimension ready for a following job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from service.core.spec import JobSpec
from worker.engine.dataset_loader import Dataset
from worker.engine.results import FitResult, StopCheck
from worker.engine.training import compiled_model, preprocessor_for, validation_folds

# Stop once the smoothed loss is this many times its lowest: the rate is far too high.
DIVERGENCE_FACTOR = 4.0
SMOOTHING = 0.9


class ExponentialRange(keras.optimizers.schedules.LearningRateSchedule):
    """``low * (high / low) ** (step / steps)``."""

    def __init__(self, low: float, high: float, steps: int) -> None:
        self.low, self.high, self.steps = low, high, steps

    def __call__(self, step: Any) -> Any:
        fraction = ops.cast(step, "float32") / float(self.steps)
        return self.low * ops.power(self.high / self.low, fraction)

    def rate(self, step: int) -> float:
        return self.low * (self.high / self.low) ** (step / self.steps)

    def get_config(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "steps": self.steps}


class _Recorder(keras.callbacks.Callback):
    """Each batch's own loss against the rate it was trained at.

    Keras reports ``logs["loss"]`` as the mean over the epoch so far, which resets at each
    epoch: read as-is, the curve drops at every epoch boundary and the "steepest fall" lands
    there. The batch's own loss is recovered from consecutive running means, weighted by the
    samples each batch held (the last batch of an epoch may be short).
    """

    def __init__(
        self, schedule: ExponentialRange, stop_check: StopCheck | None, samples: int, batch: int
    ) -> None:
        super().__init__()
        self.schedule, self.stop_check = schedule, stop_check
        self.samples, self.batch = samples, batch
        self.rates: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.stopped = False
        self._seen, self._mean = 0, 0.0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._seen, self._mean = 0, 0.0

    def _batch_loss(self, running_mean: float) -> float:
        size = min(self.batch, self.samples - self._seen)
        seen = self._seen + size
        loss = (running_mean * seen - self._mean * self._seen) / size
        self._seen, self._mean = seen, running_mean
        return loss

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        loss = self._batch_loss(float((logs or {}).get("loss", math.nan)))
        step = len(self.rates)
        if not math.isfinite(loss):
            self.model.stop_training = True
            return
        self.rates.append(self.schedule.rate(step))
        self.losses.append(loss)
        average = (
            SMOOTHING * (self.smoothed[-1] if self.smoothed else loss) + (1 - SMOOTHING) * loss
        )
        self.smoothed.append(average)
        if len(self.rates) >= self.schedule.steps or average > DIVERGENCE_FACTOR * min(
            self.smoothed
        ):
            self.model.stop_training = True
        if self.stop_check is not None and self.stop_check():
            self.model.stop_training = self.stopped = True


def range_test(
    spec: JobSpec,
    config: Mapping[str, Any],
    dataset: Dataset,
    *,
    seed: int,
    stop_check: StopCheck | None = None,
) -> FitResult:
    """Run the test on the job's training part; the curve is the result's history."""
    settings = spec.search.lr_range
    x_fit, y_fit, _, _ = validation_folds(spec, dataset)[0]
    features = preprocessor_for(spec, dataset, config)
    x_fit = features.fit_transform(x_fit)
    schedule = ExponentialRange(settings.min_lr, settings.max_lr, settings.steps)
    model, steps_per_epoch = compiled_model(
        spec, config, dataset, len(x_fit), seed=seed, rate=schedule, features=features
    )
    recorder = _Recorder(schedule, stop_check, len(x_fit), int(config["batch_size"]))
    model.fit(
        x_fit,
        y_fit,
        epochs=math.ceil(settings.steps / steps_per_epoch),
        batch_size=int(config["batch_size"]),
        callbacks=[recorder],
        verbose=0,
    )
    history = {"learning_rate": recorder.rates, "loss": recorder.losses}
    details: dict[str, Any] = {"lr_range": suggest(recorder.rates, recorder.smoothed)}
    if recorder.stopped:
        details["stopped"] = True
    return FitResult({}, history, len(recorder.rates), None, False, details)


def suggest(rates: list[float], smoothed: list[float]) -> dict[str, Any]:
    """The suggested learning rate and search range read from a range-test curve."""
    if len(rates) < 5:
        return {"error": "too few steps before the loss diverged; lower min_lr"}
    lowest = int(np.argmin(smoothed))
    log_rates = np.log(np.asarray(rates[: lowest + 1]))
    losses = np.asarray(smoothed[: lowest + 1])
    if lowest >= 2:
        slopes = np.gradient(losses, log_rates)
        steepest = int(np.argmin(slopes))
    else:
        steepest = 0
    suggested = float(rates[steepest])
    low = suggested / 10.0
    high = max(min(float(rates[lowest]), suggested * 10.0), suggested * 1.5)
    return {
        "suggested_learning_rate": suggested,
        "min_loss_learning_rate": float(rates[lowest]),
        "suggested_range": {"type": "float", "low": low, "high": high, "log": True},
    }
