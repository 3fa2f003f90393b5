"""Training one configuration: fit with early stopping, measure, detect divergence.

Feature scaling is fitted on the part of the data the model trains on, never on the validation
or test part. Each call clears the Keras session first so memory stays flat across trials in one
long-lived worker process.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from sklearn.preprocessing import StandardScaler

from service.core.spec import JobSpec
from worker.engine.datasets import Dataset, holdout_split
from worker.engine.models import build_model
from worker.engine.results import EpochHook, FitResult, StopCheck


class _EpochReporter(keras.callbacks.Callback):
    """Hands each epoch's logs to the hook, and stops at the next batch when told to."""

    def __init__(self, hook: EpochHook | None, stop_check: StopCheck | None) -> None:
        super().__init__()
        self.hook = hook
        self.stop_check = stop_check
        self.history: dict[str, list[float]] = {}

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.stop_check is not None and self.stop_check():
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        for name, value in (logs or {}).items():
            if name != "learning_rate":
                self.history.setdefault(name, []).append(float(value))
        if self.hook is not None and not self.hook(epoch + 1, self.history):
            self.model.stop_training = True


def fit_trial(
    spec: JobSpec,
    config: Mapping[str, Any],
    dataset: Dataset,
    *,
    seed: int,
    on_epoch: EpochHook | None = None,
    stop_check: StopCheck | None = None,
) -> FitResult:
    """Train ``config`` on the job's hold-out split and measure it on both parts.

    ``metrics`` holds the training metrics (``loss``, ``accuracy``...) and the validation ones
    (``val_loss``, ``val_accuracy``...) of the weights kept after early stopping.
    """
    x_fit, y_fit, x_val, y_val = holdout_split(
        dataset.x_train,
        dataset.y_train,
        spec.training.validation.split,
        spec.search.seed,
        dataset.task,
    )
    scaler = StandardScaler().fit(x_fit)
    x_fit, x_val = scaler.transform(x_fit), scaler.transform(x_val)

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(
        spec.model.family, config, dataset.n_features, dataset.task, dataset.n_classes
    )
    reporter = _EpochReporter(on_epoch, stop_check)
    callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN(), reporter]
    stopping = spec.training.early_stopping
    if stopping.enabled:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=stopping.monitor,
                patience=stopping.patience,
                min_delta=stopping.min_delta,
                restore_best_weights=stopping.restore_best_weights,
                mode="max" if stopping.monitor.endswith("accuracy") else "min",
            )
        )
    model.fit(
        x_fit,
        y_fit,
        validation_data=(x_val, y_val),
        epochs=spec.training.max_epochs,
        batch_size=int(config["batch_size"]),
        callbacks=callbacks,
        verbose=0,
    )
    history = reporter.history
    diverged = any(not math.isfinite(v) for v in history.get("loss", [])) or not history
    if diverged:
        return FitResult({}, history, len(history.get("loss", [])), None, True)
    metrics = _evaluate(model, x_fit, y_fit, "")
    metrics.update(_evaluate(model, x_val, y_val, "val_"))
    if not all(math.isfinite(v) for v in metrics.values()):
        return FitResult(metrics, history, len(history["loss"]), None, True)
    return FitResult(
        metrics=metrics,
        history=history,
        epochs=len(history["loss"]),
        best_epoch=_best_epoch(history, stopping.monitor),
        diverged=False,
    )


def refit_and_test(
    spec: JobSpec, config: Mapping[str, Any], dataset: Dataset, *, epochs: int, seed: int
) -> dict[str, float]:
    """Train ``config`` on all training data for ``epochs`` and score it once on the test set.

    Returns ``test_<metric>`` for each metric; these are reported, never used for selection.
    """
    scaler = StandardScaler().fit(dataset.x_train)
    x_train, x_test = scaler.transform(dataset.x_train), scaler.transform(dataset.x_test)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_model(
        spec.model.family, config, dataset.n_features, dataset.task, dataset.n_classes
    )
    model.fit(
        x_train,
        dataset.y_train,
        epochs=max(1, epochs),
        batch_size=int(config["batch_size"]),
        callbacks=[keras.callbacks.TerminateOnNaN()],
        verbose=0,
    )
    return _evaluate(model, x_test, dataset.y_test, "test_")


def _evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, float]:
    results = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=1024)
    return {f"{prefix}{name}": float(value) for name, value in results.items()}


def _best_epoch(history: Mapping[str, list[float]], monitor: str) -> int | None:
    """1-based epoch at which the monitored metric was best."""
    values = history.get(monitor)
    if not values:
        return None
    pick = np.argmax if monitor.endswith("accuracy") else np.argmin
    return int(pick(values)) + 1
