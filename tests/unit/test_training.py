"""Training one trial in-process on tiny data: metrics, early stopping, the untouched test set."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris

from service.core.spec import load_spec
from service.core.vocabulary import configuration
from tests.helpers import DIVERGING
from worker.engine.dataset_loader import holdout_split, load_builtin
from worker.engine.refit import refit
from worker.engine.training import fit_trial


def test_builtin_test_split_is_fixed_stratified_and_disjoint() -> None:
    data = load_builtin("iris")
    assert len(data.x_train) == 120 and len(data.x_test) == 30
    assert np.bincount(data.y_test).tolist() == [10, 10, 10]
    full = load_iris().data.astype(np.float32)
    # train and test partition the dataset: every row lands in exactly one of them
    assert sorted(map(bytes, np.vstack([data.x_train, data.x_test]))) == sorted(map(bytes, full))
    fit_x, _, val_x, _ = holdout_split(data.x_train, data.y_train, 0.2, 0, data.task)
    # the hold-out split only rearranges the training part: no test row enters tuning
    assert sorted(map(bytes, np.vstack([fit_x, val_x]))) == sorted(map(bytes, data.x_train))
    assert load_builtin("iris") is data  # cached per process


def test_fit_trial_reports_train_and_validation_metrics(spec: dict[str, Any]) -> None:
    job = load_spec(spec)
    seen: list[int] = []

    def on_epoch(epochs: int, history: dict[str, list[float]]) -> bool:
        seen.append(epochs)
        return True

    result = fit_trial(
        job,
        configuration(
            job.fixed, {"learning_rate": 0.05, "units": 16, "activation": "relu", "batch_size": 16}
        ),
        load_builtin("iris"),
        seed=1,
        on_epoch=on_epoch,
    )
    assert not result.diverged
    names = {"loss", "accuracy", "auc", "precision", "recall", "f1", "balanced_accuracy"}
    cost = {"param_count", "inference_ms"}  # what the model costs, measured after training
    assert set(result.metrics) == names | {f"val_{name}" for name in names} | cost
    assert 0.0 <= result.metrics["val_accuracy"] <= 1.0
    assert seen == list(range(1, result.epochs + 1))
    assert 1 <= result.epochs <= job.training.max_epochs
    assert len(result.history["val_loss"]) == result.epochs
    assert result.best_epoch is not None and 1 <= result.best_epoch <= result.epochs


def test_epoch_hook_can_stop_training(spec: dict[str, Any]) -> None:
    job = load_spec(spec)
    result = fit_trial(
        job,
        configuration(job.fixed, {}),
        load_builtin("iris"),
        seed=1,
        on_epoch=lambda epochs, history: epochs < 2,
    )
    assert result.epochs == 2


def test_early_stopping_stops_before_max_epochs(spec: dict[str, Any]) -> None:
    job = load_spec(spec)
    job = replace(
        job,
        training=replace(
            job.training,
            max_epochs=200,
            early_stopping=replace(job.training.early_stopping, patience=1, min_delta=0.05),
        ),
    )
    result = fit_trial(
        job, configuration(job.fixed, {"learning_rate": 0.05}), load_builtin("iris"), seed=1
    )
    assert result.epochs < 200


def test_divergence_is_detected(spec: dict[str, Any]) -> None:
    spec["dataset"] = {"builtin": "diabetes"}
    spec["training"]["objective"] = {"metric": "val_loss"}
    job = load_spec(spec)
    config = configuration(
        job.fixed,
        DIVERGING,
        "mlp",
        "regression",
    )
    result = fit_trial(job, config, load_builtin("diabetes"), seed=1)
    assert result.diverged


def test_refit_scores_on_the_test_split_and_saves_a_plain_keras_model(
    spec: dict[str, Any], tmp_path: Any
) -> None:
    import keras

    job = load_spec(spec)
    data = load_builtin("iris")
    done = refit(
        job,
        configuration(job.fixed, {"learning_rate": 0.05, "lr_schedule": "cosine"}),
        data,
        epochs=20,
        seed=0,
    )
    scores, model = done.test_metrics, done.model
    names = {"loss", "accuracy", "auc", "precision", "recall", "f1", "balanced_accuracy"}
    assert set(scores) == {f"test_{name}" for name in names}
    assert 0.0 <= scores["test_accuracy"] <= 1.0
    path = tmp_path / "model.keras"
    path.write_bytes(model)
    loaded = keras.saving.load_model(path)  # plain Keras: no tuneq classes needed
    # the scaling is inside the model: raw test features give the scored accuracy
    predicted = loaded.predict(data.x_test, verbose=0).argmax(axis=1)
    assert float(np.mean(predicted == data.y_test)) == pytest.approx(scores["test_accuracy"])
