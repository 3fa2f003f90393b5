"""The model a job ships: the best configuration retrained on the training part, scored once on
the test set, and checked against what the search promised.

Retraining on all training data for the best trial's epoch count (``fixed_epochs``, tuneq's first
refit) has no validation, so it stops blind wherever that epoch lands on its own curve: at a high
learning rate a curve swings by points from one epoch to the next. ``inner_validation`` keeps a
tenth of the training data aside, trains with the job's early stopping on it and keeps the best
epoch's weights, as a trial does. ``averaged`` trains blind but keeps the mean of the last
quarter of its epochs' weights (SWA). ``bench/refit.py`` measured the three against the best
trial's own model over five family/task pairs: only ``inner_validation`` stayed level with it
everywhere (the blind refit lost 0.09 in one seed of the order task, as the issue's user saw),
so it is ``DEFAULT_METHOD``; the table is in the README.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from service.core.spec import JobSpec
from worker.engine.dataset_loader import Dataset, holdout_split
from worker.engine.export import model_bytes, served_input, served_model, signature
from worker.engine.metrics import from_predictions, standard_error
from worker.engine.models import metrics_for
from worker.engine.schedules import schedule_callbacks
from worker.engine.training import (
    Preprocessor,
    class_weights,
    compiled_model,
    fit_fold,
    model_input_shape,
    preprocessor_for,
)

INNER_FRACTION = 0.1
"""The training data the inner-validation refit keeps aside."""
METHODS = ("inner_validation", "fixed_epochs", "averaged")
AVERAGED_SHARE = 0.25
"""``averaged``: the last quarter of the epochs (at least one) is averaged (SWA)."""
DEFAULT_METHOD = "inner_validation"
SHORTFALL_SE = 3.0
"""A test value this many standard errors worse than the search value gets a warning."""


@dataclass(frozen=True)
class Refit:
    """What the refit shipped and how it scored."""

    method: str
    epochs: int
    test_metrics: dict[str, float]
    model: bytes
    # ``val_<metric>`` on the inner validation part ({} for ``fixed_epochs``)
    inner_metrics: dict[str, float] = field(default_factory=dict)
    # with an inner part: which ("a tenth" or the dataset's own), and whether the best epoch's
    # weights were kept (early stopping with restore_best_weights) or the last epoch's
    inner_part: str | None = None
    kept_best: bool = False
    # the bootstrap standard error of the objective on the test set, and the rows scored during
    # the search (to scale it to the search value's own error)
    test_se: float | None = None
    search_rows: int = 0
    # what the model takes (``export.signature``)
    model_input: dict[str, Any] = field(default_factory=dict)


def refit(
    spec: JobSpec,
    config: Mapping[str, Any],
    dataset: Dataset,
    *,
    epochs: int,
    seed: int,
    method: str = DEFAULT_METHOD,
    most: int | None = None,
) -> Refit:
    """Retrain ``config`` on the training part and score it once on the test set.

    ``epochs`` is the best trial's early-stopping epoch: ``fixed_epochs`` trains exactly that
    long on all training data; ``inner_validation`` trains up to ``most`` epochs (what the best
    trial itself ran, so the refit takes no longer than it did; else ``max_epochs``) and keeps
    the weights of its best epoch on the inner part, falling back to ``fixed_epochs`` when the
    rows are too few to split or the inner run diverges. Test values are reported, never used
    to choose.
    The model is saved as ``.keras`` bytes behind its preprocessing (``worker.engine.export``),
    so loading it needs nothing but Keras and it takes raw features; the test set is scored
    through that same served model, on raw rows, so the reported figures are the file's.
    """
    if method not in METHODS:
        raise ValueError(f"unknown refit method {method!r}; there are {METHODS}")
    inner: dict[str, float] = {}
    part, kept_best, trained = None, False, None
    if method == "inner_validation":
        try:
            fold = inner_fold(dataset, seed)
        except ValueError:  # too few rows to keep any aside: train on all of them, as before
            method = "fixed_epochs"
        else:
            part = "own" if fold[2] is dataset.x_val else "tenth"
            trained = fit_fold(spec, config, dataset, fold, seed, on_epoch=_at_most(most))
            if trained.result.diverged:  # nothing to keep: the blind refit, as before
                method, part, trained = "fixed_epochs", None, None
    if trained is not None:
        model, scaler, result = trained.model, trained.scaler, trained.result
        kept_best = result.restored_best
        epochs = (result.best_epoch if kept_best else None) or result.epochs
        inner = {k: v for k, v in result.metrics.items() if k.startswith("val_")}
    else:
        model, scaler = _fixed_epochs(spec, config, dataset, epochs, seed, method == "averaged")
    shape = signature(scaler, model_input_shape(spec, dataset))
    names = spec.dataset.info.output_names() or ()
    metadata = {"class_names": list(names), "input": shape, "task": dataset.task}
    served = served_model(model, scaler)
    shipped = model_bytes(served, metadata)  # as built: no optimizer or compile state
    served.compile(loss=model.loss, metrics=metrics_for(dataset.task, dataset.n_classes))
    x_test = served_input(scaler, dataset.x_test)
    # Keras's evaluate and predict: the served model may take a table's raw columns as a
    # dict of arrays, which one forward pass over chunks of rows does not slice
    tracked = served.evaluate(x_test, dataset.y_test, verbose=0, return_dict=True, batch_size=1024)
    predicted = np.asarray(served.predict(x_test, verbose=0, batch_size=1024), dtype=np.float64)
    metrics = from_predictions(
        tracked, dataset.y_test, predicted, dataset.task, dataset.n_classes, "test_"
    )
    base = spec.training.objective.metric.removeprefix("val_")
    se = standard_error(
        base, dataset.y_test, predicted, dataset.task, dataset.n_classes,
        regression_loss=str(config.get("loss", "mse")),
    )  # fmt: skip
    rows = _search_rows(spec, dataset)
    return Refit(method, epochs, metrics, shipped, inner, part, kept_best, se, rows, shape)


def _at_most(most: int | None) -> Callable[[int, dict[str, list[float]]], bool] | None:
    """An epoch hook that stops training after ``most`` epochs."""
    return None if most is None else (lambda epoch, history: epoch < most)


def _search_rows(spec: JobSpec, dataset: Dataset) -> int:
    """The rows a trial was validated on: the hold-out (as scikit-learn rounds it), every
    training row once with k-fold, or the dataset's own validation part."""
    validation = spec.training.validation
    if validation.method == "dataset":
        return len(dataset.x_val) if dataset.x_val is not None else 0
    if validation.method == "holdout":
        return math.ceil(validation.split * len(dataset.x_train))
    return len(dataset.x_train)


def ship(
    spec: JobSpec, config: Mapping[str, Any], dataset: Dataset, search_value: float | None,
    *, epochs: int, most: int | None = None,
) -> tuple[dict[str, float], bytes, dict[str, Any]]:  # fmt: skip
    """The refit a job ships: its test metrics, its model, and what the job reports of it (the
    method and epochs; the search, inner-validation and test values of the objective; any
    shortfall warning). ``most``: the epochs the best trial ran (per fold)."""
    done = refit(spec, config, dataset, epochs=epochs, seed=spec.search.seed, most=most)
    objective = spec.training.objective
    reported: dict[str, Any] = {"method": done.method, "epochs": done.epochs,
                                "model_input": done.model_input}  # fmt: skip
    if done.inner_part is not None:
        reported |= {"inner_part": done.inner_part, "kept_best_epoch": done.kept_best}
    inner_value = done.inner_metrics.get(objective.metric)
    if inner_value is not None and math.isfinite(inner_value):
        reported["inner_validation_value"] = inner_value
    if search_value is not None:
        reported["search_value"] = search_value
    test_value = done.test_metrics.get(f"test_{objective.metric.removeprefix('val_')}")
    if search_value is not None and test_value is not None and math.isfinite(test_value):
        reported |= shortfall(
            search_value, test_value, objective.direction, done.test_se,
            len(dataset.y_test), done.search_rows, spec.training.validation.method,
        )  # fmt: skip
    return done.test_metrics, done.model, reported


def inner_fold(
    dataset: Dataset, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training part less an inner validation part: the dataset's own validation part when
    it has one, else ``INNER_FRACTION`` of the rows (stratified; at least as many rows as
    classes, though a rare class may still have none there)."""
    if dataset.x_val is not None and dataset.y_val is not None:
        return dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val
    rows = len(dataset.x_train)
    held = max(math.ceil(INNER_FRACTION * rows), dataset.n_classes or 1)
    try:
        return holdout_split(dataset.x_train, dataset.y_train, held, seed, dataset.task)
    except ValueError as exc:  # a class with one row cannot be stratified, and so on
        raise ValueError(f"{rows} training rows are too few to keep an inner validation part "
                         f"({exc})") from exc  # fmt: skip


def _fixed_epochs(
    spec: JobSpec, config: Mapping[str, Any], dataset: Dataset, epochs: int, seed: int,
    averaged: bool = False,
) -> tuple[keras.Model, Preprocessor]:  # fmt: skip
    """All training data for ``epochs``; the schedule spans ``max_epochs`` as in the trials, so
    stopping early leaves the rate where the trial's was. ``averaged`` keeps the mean of the
    weights after each of the last epochs (stochastic weight averaging, Izmailov et al. 2018):
    a point in the middle of where a swinging curve went, rather than wherever it stopped."""
    scaler = preprocessor_for(spec, dataset, config).fit(dataset.x_train)
    x_train = scaler.transform(dataset.x_train)
    model, steps = compiled_model(
        spec, config, dataset, len(x_train), seed=seed, features=scaler, per_step_callbacks=False
    )
    epochs = max(1, epochs)
    callbacks = [keras.callbacks.TerminateOnNaN(), *schedule_callbacks(config, steps, "loss")]
    average = _WeightAverage(epochs - max(1, round(AVERAGED_SHARE * epochs)))
    model.fit(
        x_train,
        dataset.y_train,
        epochs=epochs,
        batch_size=int(config["batch_size"]),
        steps_per_epoch=steps,
        callbacks=[*callbacks, average] if averaged else callbacks,
        class_weight=class_weights(config, dataset.y_train, dataset.task),
        verbose=0,
    )
    if averaged and average.mean is not None:
        kept = model.get_weights()
        model.set_weights([m.astype(w.dtype) for m, w in zip(average.mean, kept, strict=True)])
    return model, scaler


class _WeightAverage(keras.callbacks.Callback):
    """The running mean of the weights after each epoch from ``start`` (0-based) on; batch
    norm's moving statistics are averaged too (they move slowly: the mean of neighbours)."""

    def __init__(self, start: int) -> None:
        super().__init__()
        self.start, self.count = start, 0
        self.mean: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if epoch < self.start:
            return
        weights = [np.asarray(w, dtype=np.float64) for w in self.model.get_weights()]
        self.count += 1
        if self.mean is None:
            self.mean = weights
        else:
            self.mean = [m + (w - m) / self.count for m, w in zip(self.mean, weights, strict=True)]


def shortfall(
    search_value: float, test_value: float, direction: str, test_se: float | None,
    test_rows: int, search_rows: int, validation: str = "holdout",
) -> dict[str, Any]:  # fmt: skip
    """How far the test value fell short of the search value, in standard errors of their
    difference, with a plain-language warning beyond ``SHORTFALL_SE``.

    The search value's own error is the test one scaled by the rows each was measured on
    (standard errors shrink with the square root of the sample)."""
    worse = (search_value - test_value) if direction == "max" else (test_value - search_value)
    out: dict[str, Any] = {"search_value": search_value, "test_value": test_value}
    if test_se is None or not test_se > 0 or search_rows <= 0:
        return out
    se = test_se * math.sqrt(1.0 + test_rows / search_rows)
    out["standard_error"] = se
    out["shortfall_se"] = worse / se
    if worse > SHORTFALL_SE * se:
        out["warning"] = (
            f"The shipped model scored {test_value:.4g} on the test set, {worse:.3g} worse than "
            f"the search's {search_value:.4g}: more than {SHORTFALL_SE:g} standard errors "
            f"({se:.2g}), so this is unlikely to be chance. " + _why_short(validation, search_rows)
        )
    return out


def _why_short(validation: str, search_rows: int) -> str:
    if validation == "kfold":
        return (
            "The best of many trials looks better than it is even across folds; the test "
            "set may also differ from the training data (a shift in how it was collected), "
            "or the search space gives the search many chances to be lucky: narrow it."
        )
    return (
        f"The best of many trials on {search_rows} validation rows tends to look better "
        "than it is; a larger validation part or k-fold validation gives a search value "
        "you can trust, and a narrower search space gives it fewer chances to be lucky."
    )
