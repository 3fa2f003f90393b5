"""Validation done right, the metrics, the diagnosis and the learning-rate range test, run
in-process on tiny data."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from service.core.spec import ValidationSpec, load_spec
from service.core.vocabulary import configuration
from worker.engine.dataset_loader import load_builtin
from worker.engine.lr_range import ExponentialRange, _Recorder, range_test, suggest
from worker.engine.training import fit_trial, validation_folds


def kfold_spec(spec: dict[str, Any], folds: int = 3) -> Any:
    spec["training"]["validation"] = {"method": "kfold", "folds": folds}
    spec["training"]["max_epochs"] = 4
    return load_spec(spec)


def test_kfold_trains_k_models_and_reports_their_mean(spec: dict[str, Any]) -> None:
    job = kfold_spec(spec)
    data = load_builtin("iris")
    folds = validation_folds(job, data)
    assert len(folds) == 3
    # stratified folds whose validation parts partition the training data, never the test set
    validated = np.vstack([f[2] for f in folds])
    assert sorted(map(bytes, validated)) == sorted(map(bytes, data.x_train))
    for fit_x, _, val_x, _ in folds:
        assert sorted(map(bytes, np.vstack([fit_x, val_x]))) == sorted(map(bytes, data.x_train))
    assert all(np.bincount(f[3]).tolist() == [13, 13, 14] or len(set(f[3])) == 3 for f in folds)

    starts: list[int] = []
    result = fit_trial(
        job,
        configuration(job.fixed, {"learning_rate": 0.05}),
        data,
        seed=0,
        on_epoch=lambda e, h: starts.append(e) or True,
    )
    per_fold = result.details["folds"]
    assert len(per_fold) == 3
    mean = np.mean([f["val_accuracy"] for f in per_fold])
    assert result.metrics["val_accuracy"] == pytest.approx(mean)
    assert result.metrics["val_accuracy_std"] == pytest.approx(
        np.std([f["val_accuracy"] for f in per_fold])
    )
    assert result.epochs == 12 and starts == list(range(1, 13))  # 3 folds x 4 epochs


def test_regression_metrics(spec: dict[str, Any]) -> None:
    spec["dataset"] = {"builtin": "diabetes"}
    spec["training"] = {"max_epochs": 3, "objective": {"metric": "val_r2"}}
    job = load_spec(spec)
    assert job.training.objective.direction == "max"
    result = fit_trial(
        job,
        configuration(job.fixed, {"learning_rate": 0.01, "loss": "huber"}, "mlp", "regression"),
        load_builtin("diabetes"),
        seed=0,
    )
    names = {"loss", "mse", "mae", "rmse", "r2"}
    cost = {"param_count", "inference_ms"}  # what the model costs, measured after training
    assert set(result.metrics) == names | {f"val_{n}" for n in names} | cost
    assert result.metrics["val_rmse"] == pytest.approx(np.sqrt(result.metrics["val_mse"]), 1e-3)


def test_early_stopping_start_from_epoch(spec: dict[str, Any]) -> None:
    job = load_spec(spec)
    stopping = replace(job.training.early_stopping, patience=0, min_delta=10.0, start_from_epoch=6)
    job = replace(job, training=replace(job.training, max_epochs=10, early_stopping=stopping))
    result = fit_trial(job, configuration(job.fixed, {}), load_builtin("iris"), seed=1)
    # nothing counts as an improvement, but monitoring starts after 6 epochs: epoch 7 sets the
    # reference and epoch 8 ends the run
    assert result.epochs == 8


def test_range_test_curve_and_suggestion(spec: dict[str, Any]) -> None:
    spec["search"] = {"strategy": "lr_range_test", "lr_range": {"min_lr": 1e-5, "max_lr": 10.0}}
    spec["dataset"] = {"builtin": "digits"}
    spec["search_space"] = {}
    spec["fixed"] = {"optimizer": "sgd", "batch_size": 16}
    job = load_spec(spec)
    assert job.search.max_trials == 1
    result = range_test(job, configuration(job.fixed, {}), load_builtin("digits"), seed=0)
    rates, losses = result.history["learning_rate"], result.history["loss"]
    assert len(rates) == len(losses) and 20 <= len(rates) <= 100
    assert rates == sorted(rates) and rates[0] == pytest.approx(1e-5)
    assert rates[1] / rates[0] == pytest.approx((10.0 / 1e-5) ** (1 / 100), rel=1e-6)
    found = result.details["lr_range"]
    lr = found["suggested_learning_rate"]
    assert 1e-4 < lr < 5.0
    assert found["suggested_range"]["low"] < lr < found["suggested_range"]["high"]
    assert found["suggested_range"]["log"] is True


def test_range_test_records_each_batchs_own_loss() -> None:
    """Keras logs the epoch's running mean, which resets each epoch; the recorder undoes it."""

    class Model:
        stop_training = False

    recorder = _Recorder(ExponentialRange(1e-4, 1.0, 100), None, samples=10, batch=4)
    recorder.set_model(Model())  # type: ignore[arg-type]
    batches = [[2.0, 1.5, 1.0], [0.9, 0.8, 0.7]]  # sizes 4, 4, 2 in each epoch
    for epoch, losses in enumerate(batches):
        recorder.on_epoch_begin(epoch)
        total = seen = 0.0
        for batch, (loss, size) in enumerate(zip(losses, (4, 4, 2), strict=True)):
            total, seen = total + loss * size, seen + size
            recorder.on_train_batch_end(batch, {"loss": total / seen})
    assert recorder.losses == pytest.approx([2.0, 1.5, 1.0, 0.9, 0.8, 0.7])


def test_range_suggestion_is_the_steepest_descent() -> None:
    rates = list(np.logspace(-5, 0, 50))
    losses = [
        2.0 if r < 1e-3 else (2.0 - np.log10(r / 1e-3) if r < 1e-1 else 0.0 + 5 * r) for r in rates
    ]
    found = suggest(rates, losses)
    assert 1e-3 <= found["suggested_learning_rate"] <= 1e-1
    assert suggest(rates[:3], losses[:3]).get("error")


@pytest.mark.parametrize(
    ("family", "dataset", "model"),
    [
        ("conv2d", "digits", {"family": "conv2d"}),
        ("conv2d", "digits", {"family": "conv2d", "input_shape": [8, 8]}),
        ("conv1d", "breast_cancer", {"family": "conv1d"}),
    ],
)
def test_conv_families_train(spec: dict[str, Any], family: str, dataset: str, model: dict) -> None:
    spec["dataset"] = {"builtin": dataset}
    spec["model"] = model
    spec["training"]["max_epochs"] = 2
    job = load_spec(spec)
    config = configuration(
        job.fixed, {"conv_blocks": 2, "filters": 4, "learning_rate": 0.01}, family, "classification"
    )
    result = fit_trial(job, config, load_builtin(dataset), seed=0)
    assert not result.diverged and result.epochs == 2
    assert 0.0 <= result.metrics["val_accuracy"] <= 1.0


@pytest.mark.parametrize("batch_size", [8, 50])
def test_batch_size_and_schedule_take_effect_in_training(
    spec: dict[str, Any], batch_size: int
) -> None:
    spec["training"]["max_epochs"] = 1
    spec["training"]["early_stopping"] = {"enabled": False}
    job = load_spec(spec)
    params = {
        "batch_size": batch_size,
        "learning_rate": 0.01,
        "lr_schedule": "exponential",
        "decay_rate": 0.9,
        "decay_steps": 1,
    }
    result = fit_trial(job, configuration(job.fixed, params), load_builtin("iris"), seed=0)
    steps = -(-96 // batch_size)  # 96 of iris's 120 training rows fit, in ceil(96 / b) batches
    # Keras logs the rate for the step after the epoch's last one
    assert result.history["learning_rate"][0] == pytest.approx(0.01 * 0.9**steps, rel=1e-4)


def test_validation_on_the_datasets_own_part(spec: dict[str, Any]) -> None:
    job = load_spec(spec)
    job = replace(
        job, training=replace(job.training, max_epochs=2, validation=ValidationSpec("dataset"))
    )
    full = load_builtin("iris")
    own = replace(full, x_train=full.x_train[:90], y_train=full.y_train[:90],
                  x_val=full.x_train[90:], y_val=full.y_train[90:])  # fmt: skip
    (fold,) = validation_folds(job, own)
    assert fold[2] is own.x_val and fold[0] is own.x_train  # no split: the given parts, as given
    result = fit_trial(job, configuration(job.fixed, {}), own, seed=0)
    assert 0.0 <= result.metrics["val_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="no validation part"):
        validation_folds(job, full)
