"""Training one configuration: fit with early stopping on each validation fold, measure, detect
divergence (``worker.engine.refit`` retrains the best one for the model a job ships).

Feature scaling, and a table's encoding, is fitted on the part of the data the model trains on,
never on the validation or test part. Each fit clears the Keras session first so memory stays
flat across trials in one long-lived worker process.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from service.core.catalog import CLASSIFICATION
from service.core.spec import JobSpec
from service.core.spec.rules import input_shape
from worker.engine.cost import model_cost
from worker.engine.dataset_loader import Dataset, holdout_split
from worker.engine.evaluation import Validation
from worker.engine.execution import steps_per_execution
from worker.engine.metrics import score
from worker.engine.models import build_model
from worker.engine.results import EpochHook, FitResult, StopCheck
from worker.engine.scaling import FeatureScaler
from worker.engine.schedules import schedule_callbacks
from worker.engine.tables import TableEncoder

Fold = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Preprocessor = FeatureScaler | TableEncoder
"""What turns a fold's raw features into the model's input, fitted on its training rows."""


class _EpochReporter(keras.callbacks.Callback):
    """Hands each epoch's logs to the hook, and stops at the next batch when told to (the
    next call of several steps: ``worker.engine.execution``)."""

    def __init__(self, hook: EpochHook | None, stop_check: StopCheck | None, offset: int) -> None:
        super().__init__()
        self.hook, self.stop_check, self.offset = hook, stop_check, offset
        self.history: dict[str, list[float]] = {}
        self.stopped = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.stop_check is not None and self.stop_check():
            self.model.stop_training = self.stopped = True

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        # the rate the next step will use (schedules are not logged by Keras itself)
        logs.setdefault("learning_rate", self.model.optimizer.learning_rate)
        for name, value in logs.items():
            self.history.setdefault(name, []).append(float(value))
        if self.hook is not None and not self.hook(self.offset + epoch + 1, self.history):
            self.model.stop_training = self.stopped = True


def model_input_shape(spec: JobSpec, dataset: Dataset) -> tuple[int, ...]:
    """One sample's shape as the model family sees it."""
    shape = input_shape(spec.model.family, spec.model.input_shape, spec.dataset.info)
    if isinstance(shape, str):
        raise ValueError(shape)
    return shape


def preprocessor_for(spec: JobSpec, dataset: Dataset, config: Mapping[str, Any]) -> Preprocessor:
    """A table's encoding (with the configured ``categorical_encoding``), else the family's
    standardization: per channel for conv families, per column for the MLP."""
    if dataset.columns is not None:
        encoding = str(config.get("categorical_encoding", "one_hot"))
        return TableEncoder(dataset.columns, encoding, dataset.encoding)
    tokens = spec.model.layers is not None and spec.model.layers.reads_tokens
    return FeatureScaler.for_family(spec.model.family, model_input_shape(spec, dataset), tokens)


def class_weights(config: Mapping[str, Any], y: np.ndarray, task: str) -> dict[int, float] | None:
    """``class_weight: balanced``: each class weighs inversely to its share of the rows (as
    scikit-learn's ``balanced``), so a rare class counts as much as a common one in the loss."""
    if task != CLASSIFICATION or config.get("class_weight", "none") != "balanced":
        return None
    labels, counts = np.unique(y, return_counts=True)
    return {int(c): len(y) / (len(labels) * int(n)) for c, n in zip(labels, counts, strict=True)}


def compiled_model(
    spec: JobSpec,
    config: Mapping[str, Any],
    dataset: Dataset,
    rows: int,
    *,
    seed: int,
    rate: Any = None,
    features: Preprocessor | None = None,
    max_params: int | None = None,
    per_step_callbacks: bool = True,
) -> tuple[keras.Model, int]:
    """A fresh, seeded, compiled model for ``config`` in a cleared Keras session, and the
    optimizer steps one epoch over ``rows`` samples takes (the schedule is placed by them).
    A fitted table encoder (``features``) gives the input width and the embedded columns.
    Unless the caller needs ``per_step_callbacks``, one call into the compiled step may run
    several optimizer steps (``worker.engine.execution``)."""
    steps = max(1, math.ceil(rows / int(config["batch_size"])))
    execution: Callable[[keras.Model], int] | int = 1
    if not per_step_callbacks:
        execution = functools.partial(steps_per_execution, config, steps)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    shape, embedded = model_input_shape(spec, dataset), []
    if isinstance(features, TableEncoder):
        shape, embedded = (features.width,), features.embedded
    model = build_model(
        spec.model.family,
        config,
        shape,
        dataset.task,
        dataset.n_classes,
        steps_per_epoch=steps,
        max_epochs=spec.training.max_epochs,
        rate=rate,
        embedded=embedded,
        architecture=spec.model.layers,
        plugin=spec.model.plugin.name if spec.model.plugin is not None else None,
        max_params=max_params,
        steps_per_execution=execution,
    )
    return model, steps


def validation_folds(spec: JobSpec, dataset: Dataset) -> list[Fold]:
    """The (fit, validation) parts the trial is scored on, the same for every trial of a job."""
    validation, seed = spec.training.validation, spec.search.seed
    x, y = dataset.x_train, dataset.y_train
    if validation.method == "dataset":
        if dataset.x_val is None or dataset.y_val is None:
            raise ValueError(f"dataset {dataset.name!r} has no validation part")
        return [(x, y, dataset.x_val, dataset.y_val)]
    if validation.method == "holdout":
        return [holdout_split(x, y, validation.split, seed, dataset.task)]
    splitter: KFold | StratifiedKFold
    if dataset.task == CLASSIFICATION:
        splitter = StratifiedKFold(validation.folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(validation.folds, shuffle=True, random_state=seed)
    return [(x[a], y[a], x[b], y[b]) for a, b in splitter.split(x, y)]


def fit_trial(
    spec: JobSpec,
    config: Mapping[str, Any],
    dataset: Dataset,
    *,
    seed: int,
    on_epoch: EpochHook | None = None,
    stop_check: StopCheck | None = None,
    max_params: int | None = None,
) -> FitResult:
    """Train ``config`` on each validation fold and measure it on both parts of each.

    ``metrics`` holds the training metrics (``loss``, ``accuracy``...) and the validation ones
    (``val_loss``, ``val_accuracy``...) of the weights kept after early stopping, averaged over
    the folds; with k-fold, ``details["folds"]`` has each fold's and ``<val metric>_std`` their
    spread. The history is the fold-mean curve (up to the shortest fold).
    """
    folds = validation_folds(spec, dataset)
    results: list[FitResult] = []
    offset = 0
    for fold in folds:
        result = fit_fold(
            spec, config, dataset, fold, seed, on_epoch, stop_check, offset, max_params
        ).result
        results.append(result)
        offset += result.epochs
        if result.diverged or result.details.get("stopped"):
            break
    if len(folds) == 1 or results[-1].diverged or results[-1].details.get("stopped"):
        return results[-1] if len(folds) == 1 else _combine(results, partial=True)
    return _combine(results)


@dataclass(frozen=True)
class Trained:
    """One fold's fit: its result, and the model (the kept weights) with its preprocessing."""

    result: FitResult
    model: keras.Model
    scaler: Preprocessor


def fit_fold(
    spec: JobSpec,
    config: Mapping[str, Any],
    dataset: Dataset,
    fold: Fold,
    seed: int,
    on_epoch: EpochHook | None = None,
    stop_check: StopCheck | None = None,
    offset: int = 0,
    max_params: int | None = None,
) -> Trained:
    """Train on the fold's fit part with early stopping on its validation part, as a trial does
    (the refit uses it too, with an inner validation part of the training data)."""
    x_fit, y_fit, x_val, y_val = fold
    scaler = preprocessor_for(spec, dataset, config).fit(x_fit)
    x_fit, x_val = scaler.transform(x_fit), scaler.transform(x_val)
    model, steps = compiled_model(
        spec, config, dataset, len(x_fit), seed=seed, features=scaler, max_params=max_params,
        per_step_callbacks=False,
    )  # fmt: skip
    reporter = _EpochReporter(on_epoch, stop_check, offset)
    stopping = spec.training.early_stopping
    callbacks = [
        Validation(x_val, y_val, dataset.task),  # first: the others read what it measures
        keras.callbacks.TerminateOnNaN(),
        *schedule_callbacks(config, steps, stopping.monitor),
        reporter,
    ]
    stopper = None
    if stopping.enabled:
        stopper = keras.callbacks.EarlyStopping(
            monitor=stopping.monitor,
            patience=stopping.patience,
            min_delta=stopping.min_delta,
            restore_best_weights=stopping.restore_best_weights,
            start_from_epoch=stopping.start_from_epoch,
            mode="max" if stopping.monitor.endswith("accuracy") else "min",
        )
        callbacks.append(stopper)
    model.fit(
        x_fit,
        y_fit,
        epochs=spec.training.max_epochs,
        batch_size=int(config["batch_size"]),
        steps_per_epoch=steps,  # known: Keras then makes one input iterator an epoch, not two
        callbacks=callbacks,
        class_weight=class_weights(config, y_fit, dataset.task),
        verbose=0,
    )
    history = reporter.history
    epochs = len(history.get("loss", []))
    details = {"stopped": True} if reporter.stopped else {}
    if not history or any(not math.isfinite(v) for v in history.get("loss", [])):
        return Trained(FitResult({}, history, epochs, None, True, details), model, scaler)
    metrics = score(model, x_fit, y_fit, dataset.task, dataset.n_classes)
    metrics.update(score(model, x_val, y_val, dataset.task, dataset.n_classes, "val_"))
    diverged = not all(math.isfinite(v) for v in metrics.values())
    if not diverged:
        metrics.update(model_cost(model, x_val))
    best = None if diverged else _best_epoch(history, stopping.monitor)
    restored = _kept_best_weights(model, stopper)
    result = FitResult(
        metrics, history, epochs, best, diverged, details,
        restored_best=restored, chance_error=_chance_error(y_fit, dataset.task),
    )  # fmt: skip
    return Trained(result, model, scaler)


def _kept_best_weights(model: keras.Model, stopper: keras.callbacks.EarlyStopping | None) -> bool:
    """Whether the model holds early stopping's best-epoch weights: compared, not inferred,
    since Keras versions differ on when they restore (at the stop, or at every train end)."""
    best = getattr(stopper, "best_weights", None) if stopper is not None else None
    if not best or not stopper.restore_best_weights:  # type: ignore[union-attr]
        return False
    kept = model.get_weights()
    return len(kept) == len(best) and all(
        np.array_equal(a, b) for a, b in zip(kept, best, strict=True)
    )


def _chance_error(y: np.ndarray, task: str) -> float | None:
    """The error of always answering the most frequent class (None for regression)."""
    if task != CLASSIFICATION or len(y) == 0:
        return None
    labels = np.argmax(y, axis=1) if y.ndim > 1 else y
    return 1.0 - float(np.max(np.unique(labels, return_counts=True)[1])) / len(labels)


def _combine(results: list[FitResult], partial: bool = False) -> FitResult:
    """One result from k folds: mean metrics (and the spread of the validation ones)."""
    scored = [r for r in results if r.metrics and not r.diverged]
    metrics: dict[str, float] = {}
    for name in scored[0].metrics if scored else ():
        values = [r.metrics[name] for r in scored if name in r.metrics]
        metrics[name] = float(np.mean(values))
        if name.startswith("val_"):
            metrics[f"{name}_std"] = float(np.std(values))
    shortest = min(len(r.history.get("loss", [])) for r in results)
    history = {
        name: [float(np.mean([r.history[name][i] for r in results])) for i in range(shortest)]
        for name in results[0].history
        if all(name in r.history for r in results)
    }
    best_epochs = [r.best_epoch for r in scored if r.best_epoch is not None]
    details: dict[str, Any] = {"folds": [r.metrics for r in results]}
    if partial:
        details["stopped"] = True
    return FitResult(
        metrics=metrics if not partial else {},
        history=history,
        epochs=sum(r.epochs for r in results),
        best_epoch=round(float(np.mean(best_epochs))) if best_epochs else None,
        diverged=any(r.diverged for r in results),
        details=details,
        restored_best=all(r.restored_best for r in results),
        chance_error=float(np.mean(errors)) if (errors := _known(results)) else None,
    )


def _known(results: list[FitResult]) -> list[float]:
    return [r.chance_error for r in results if r.chance_error is not None]


def _best_epoch(history: Mapping[str, list[float]], monitor: str) -> int | None:
    """1-based epoch at which the monitored metric was best."""
    values = history.get(monitor)
    if not values:
        return None
    pick = np.argmax if monitor.endswith("accuracy") else np.argmin
    return int(pick(values)) + 1
