"""Training one trial in-process on tiny data: metrics, early stopping, the untouched test set."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from sklearn.datasets import load_iris

from service.core.spec import load_spec
from service.core.vocabulary import configuration
from worker.engine.datasets import holdout_split, load_builtin
from worker.engine.training import fit_trial, refit_and_test


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
    assert set(result.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
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
        {"optimizer": "sgd", "learning_rate": 10.0, "momentum": 0.99, "units": 512, "n_layers": 4},
    )
    result = fit_trial(job, config, load_builtin("diabetes"), seed=1)
    assert result.diverged


def test_refit_scores_on_the_test_split(spec: dict[str, Any]) -> None:
    job = load_spec(spec)
    scores = refit_and_test(
        job,
        configuration(job.fixed, {"learning_rate": 0.05}),
        load_builtin("iris"),
        epochs=3,
        seed=0,
    )
    assert set(scores) == {"test_loss", "test_accuracy"}
    assert 0.0 <= scores["test_accuracy"] <= 1.0
