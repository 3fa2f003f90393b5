"""The shipped model: retrained with an inner validation part that keeps its best epoch, scored
once on the test set, and checked against the search value it was picked by."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
import pytest

from service.core.spec import ValidationSpec, load_spec
from service.core.vocabulary import configuration
from tests.helpers import DIVERGING
from worker.engine.dataset_loader import Dataset, load_builtin
from worker.engine.metrics import standard_error
from worker.engine.refit import inner_fold, refit, shortfall


def test_the_inner_validation_refit_keeps_its_best_epoch_and_takes_raw_features(
    spec: dict[str, Any], tmp_path: Any
) -> None:
    spec["training"] = {"max_epochs": 12, "early_stopping": {"patience": 2}}
    job = load_spec(spec)
    data = load_builtin("iris")
    config = configuration(job.fixed, {"learning_rate": 0.05})
    done = refit(job, config, data, epochs=3, seed=0)
    assert done.method == "inner_validation" and done.inner_part == "tenth"
    # it chose its own length on the inner part (not the trial's 3 epochs), within max_epochs
    assert 1 <= done.epochs <= 12
    assert set(done.inner_metrics) >= {"val_accuracy", "val_loss"}
    assert done.search_rows == 24  # the trials' 20 % hold-out of 120 rows
    path = tmp_path / "model.keras"
    path.write_bytes(done.model)
    predicted = keras.saving.load_model(path).predict(data.x_test, verbose=0).argmax(axis=1)
    assert float(np.mean(predicted == data.y_test)) == pytest.approx(
        done.test_metrics["test_accuracy"]
    )


def test_the_inner_part_is_a_tenth_stratified_or_the_datasets_own() -> None:
    data = load_builtin("digits")
    x_fit, _, x_val, y_val = inner_fold(data, 0)
    assert len(x_val) == math.ceil(0.1 * len(data.x_train))
    assert len(x_fit) + len(x_val) == len(data.x_train)
    assert set(np.unique(y_val)) == set(range(10))
    own = dataclasses.replace(data, x_val=data.x_test[:50], y_val=data.y_test[:50])
    assert inner_fold(own, 0)[2] is own.x_val


def test_the_bootstrap_error_of_accuracy_is_the_binomial_one() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    predicted = np.eye(3)[np.where(rng.random(400) < 0.8, y, (y + 1) % 3)]
    p = float(np.mean(predicted.argmax(axis=1) == y))
    se = standard_error("accuracy", y, predicted, "classification", 3, draws=400)
    assert se == pytest.approx(math.sqrt(p * (1 - p) / 400), rel=0.15)
    assert standard_error("f1", y, predicted, "classification", 3) > 0
    values = rng.normal(size=300)
    guess = (values + rng.normal(scale=0.5, size=300))[:, None]
    assert standard_error("r2", values, guess, "regression", None) > 0


def test_a_shortfall_beyond_three_standard_errors_is_a_warning() -> None:
    # 0.964 on 300 validation rows, 0.911 on 360 test rows (se 0.015 there): 2.4 joint errors
    close = shortfall(0.964, 0.911, "max", 0.015, 360, 300)
    assert close["shortfall_se"] == pytest.approx(0.053 / (0.015 * math.sqrt(1 + 360 / 300)))
    assert "warning" not in close
    far = shortfall(0.964, 0.85, "max", 0.015, 360, 300)
    assert "3 standard errors" in far["warning"] and "300 validation rows" in far["warning"]
    # for a minimised metric, worse is higher
    assert "warning" in shortfall(0.10, 0.30, "min", 0.02, 200, 200)
    assert "warning" not in shortfall(0.30, 0.10, "min", 0.02, 200, 200)
    assert "warning" not in shortfall(0.9, 0.5, "max", None, 200, 200)  # no error, no claim


def _blobs(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, rows)
    return (rng.normal(size=(rows, 4)) + 3.0 * y[:, None]).astype(np.float32), y


def test_a_constructed_noisy_case_shows_the_warning(spec: dict[str, Any]) -> None:
    """A search scored on clean validation rows and a test set whose labels are noise: the
    search promised near 1.0, the test gives about chance, and the job says so plainly."""
    rng = np.random.default_rng(0)
    (x, y), (x_val, y_val), (x_test, _) = (_blobs(n, rng) for n in (200, 100, 200))
    noise = rng.integers(0, 2, 200)
    data = Dataset("noisy", "classification", x, y, x_test, noise, 2, x_val=x_val, y_val=y_val)
    spec["training"] = {"max_epochs": 10}
    job = load_spec(spec)
    job = dataclasses.replace(
        job, training=dataclasses.replace(job.training, validation=ValidationSpec("dataset"))
    )
    done = refit(job, configuration(job.fixed, {"learning_rate": 0.05}), data, epochs=5, seed=0)
    assert done.inner_metrics["val_accuracy"] > 0.95  # the dataset's own, clean part
    assert done.search_rows == 100
    test = done.test_metrics["test_accuracy"]
    found = shortfall(done.inner_metrics["val_accuracy"], test, "max", done.test_se, 200, 100)
    assert test < 0.65 and "unlikely to be chance" in found["warning"]
    clean = shortfall(done.inner_metrics["val_accuracy"], 0.97, "max", done.test_se, 200, 100)
    assert "warning" not in clean


def test_the_refit_reads_in_words() -> None:
    from service.core.refit_summary import describe_refit

    refit = {"method": "inner_validation", "epochs": 23, "search_value": 0.964,
             "inner_validation_value": 0.958, "test_value": 0.911, "warning": "Look.",
             "inner_part": "tenth", "kept_best_epoch": True}  # fmt: skip
    lines = describe_refit(refit, "val_accuracy")
    assert lines[0].startswith("Refit: inner_validation (a tenth of the training data kept aside")
    assert lines[1] == "  accuracy: search 0.9640, refit inner validation 0.9580, test 0.9110"
    assert lines[2] == "Warning: Look."
    assert describe_refit({}, "val_accuracy") == []
    own = {**refit, "inner_part": "own", "kept_best_epoch": False}
    assert "(the dataset's validation part, the last epoch kept)" in describe_refit(own, "loss")[0]


def test_the_cli_summary_shows_the_refit_under_the_scores() -> None:
    from service.progress import summary

    job = {"id": "j", "status": "succeeded", "objective": {"metric": "val_accuracy",
           "direction": "max"}, "progress": {"trials_total": 3}, "spec": {},
           "best": {"trial": 1, "epochs": 9, "metrics": {"val_accuracy": 0.96,
                    "test_accuracy": 0.90}, "configuration": {"units": 8}, "params": {}},
           "summary": {"refit": {"method": "fixed_epochs", "epochs": 9, "search_value": 0.96,
                                 "test_value": 0.90, "warning": "Too far."}}}  # fmt: skip
    lines = summary(job).splitlines()
    at = lines.index(
        "Refit: fixed_epochs (all training data, the best trial's epoch count), 9 epochs"
    )
    assert lines[at - 1].split() == ["accuracy", "0.9600", "0.9000"]  # the scores table's last
    assert lines[at + 1 : at + 3] == ["  accuracy: search 0.9600, test 0.9000", "Warning: Too far."]


def test_too_few_rows_for_an_inner_part_fall_back_to_the_fixed_epoch_refit(
    spec: dict[str, Any],
) -> None:
    rng = np.random.default_rng(0)
    (x, y), (x_test, y_test) = _blobs(6, rng), _blobs(20, rng)
    y[:] = [0, 1, 1, 1, 1, 1]  # one row of class 0 cannot be split in stratified parts
    data = Dataset("tiny", "classification", x, y, x_test, y_test, 2)
    with pytest.raises(ValueError, match="too few to keep an inner validation part"):
        inner_fold(data, 0)
    job = load_spec(spec)
    done = refit(job, configuration(job.fixed, {}), data, epochs=2, seed=0)
    assert (done.method, done.epochs, done.inner_metrics) == ("fixed_epochs", 2, {})


def test_the_averaged_refit_keeps_the_mean_of_its_last_quarter_of_epochs(
    spec: dict[str, Any], tmp_path: Any
) -> None:
    from worker.engine.refit import _WeightAverage

    class Weights:
        def __init__(self) -> None:
            self.now = [np.zeros(2)]

        def get_weights(self) -> list[np.ndarray]:
            return self.now

    average, model = _WeightAverage(start=2), Weights()
    average.set_model(model)  # type: ignore[arg-type]
    for epoch, value in enumerate([100.0, 50.0, 1.0, 2.0, 6.0]):
        model.now = [np.full(2, value)]
        average.on_epoch_end(epoch)
    assert average.mean is not None and np.allclose(average.mean[0], 3.0)  # epochs 3-5 only
    job = load_spec(spec)
    data = load_builtin("iris")
    done = refit(job, configuration(job.fixed, {"learning_rate": 0.05}), data, epochs=8, seed=0,
                 method="averaged")  # fmt: skip
    assert (done.method, done.epochs, done.inner_metrics) == ("averaged", 8, {})
    path = tmp_path / "model.keras"
    path.write_bytes(done.model)
    predicted = keras.saving.load_model(path).predict(data.x_test, verbose=0).argmax(axis=1)
    assert float(np.mean(predicted == data.y_test)) == pytest.approx(
        done.test_metrics["test_accuracy"]
    )


def test_the_inner_refit_runs_no_longer_than_the_trial_and_never_ships_a_diverged_run(
    spec: dict[str, Any],
) -> None:
    job = load_spec(spec)
    data = load_builtin("iris")
    capped = refit(job, configuration(job.fixed, {}), data, epochs=2, seed=0, most=2)
    assert capped.method == "inner_validation" and capped.epochs <= 2
    spec["dataset"] = {"builtin": "diabetes"}
    spec["training"]["objective"] = {"metric": "val_loss"}
    wild = load_spec(spec)
    config = configuration(
        wild.fixed,
        DIVERGING,
        "mlp",
        "regression",
    )
    done = refit(wild, config, load_builtin("diabetes"), epochs=1, seed=1)
    assert (done.method, done.inner_part, done.inner_metrics) == ("fixed_epochs", None, {})
