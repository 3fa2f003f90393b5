"""The bias/variance diagnosis: its rules on constructed metrics, its advice against the
configuration, and three models really trained to be underfit, overfit and well fit."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from service.core.spec import JobSpec, ValidationSpec, load_spec
from service.core.vocabulary import configuration
from tests.helpers import VALID_SPEC
from worker.engine.dataset_loader import load_builtin
from worker.engine.diagnosis import Fit, diagnose
from worker.engine.training import fit_trial

RESTORED = Fit(kept_last_epoch=False, chance_error=0.9)
LAST = Fit(kept_last_epoch=True, chance_error=0.9)
RISING = {"val_loss": [1.0, 0.3, 0.5, 0.8]}  # what patience epochs after the best look like


def job(regression: bool = False, **training: Any) -> JobSpec:
    spec = copy.deepcopy(VALID_SPEC)
    spec["search_space"]["dropout"] = {"type": "float", "low": 0.0, "high": 0.5}
    spec["training"].update(training)
    if regression:
        spec["dataset"] = {"builtin": "diabetes"}
        spec["training"]["objective"] = {"metric": "val_loss", "direction": "min"}
    return load_spec(spec)


def label(metrics: dict, history: dict, fit: Fit, regression: bool = False) -> str:
    return diagnose(metrics, history, job(regression), configuration({}, {}), fit)["label"]


@pytest.mark.parametrize(
    ("metrics", "history", "fit", "expected"),
    [
        # a 0.99/0.97 digits model whose curve shows early stopping's patience: good
        ({"accuracy": 0.99, "val_accuracy": 0.97}, RISING, RESTORED, "good_fit"),
        # training and validation error both 0 (breast cancer): good, whatever the curve did
        ({"accuracy": 1.0, "val_accuracy": 1.0}, RISING, Fit(False, 0.37), "good_fit"),
        # the same rising curve when the last epoch's weights were kept: overfitting
        ({"accuracy": 0.97, "val_accuracy": 0.96}, RISING, LAST, "overfitting"),
        ({"accuracy": 1.0, "val_accuracy": 0.80}, {}, RESTORED, "overfitting"),
        ({"accuracy": 0.60, "val_accuracy": 0.58}, {}, RESTORED, "underfitting"),
        ({"accuracy": 0.80, "val_accuracy": 0.60}, {}, RESTORED, "underfitting_and_overfitting"),
        # a 4-point gap over a model 30 % wrong is its bias, not variance
        ({"accuracy": 0.70, "val_accuracy": 0.66}, {}, RESTORED, "underfitting"),
        # 95 % of rows are one class: 96 % accuracy is barely better than chance
        ({"accuracy": 0.96, "val_accuracy": 0.955}, {}, Fit(False, 0.05), "underfitting"),
        ({"accuracy": 0.96, "val_accuracy": 0.955}, {}, Fit(False, 0.5), "good_fit"),
    ],
)
def test_labels(metrics: dict, history: dict, fit: Fit, expected: str) -> None:
    assert label(metrics, history, fit) == expected


def test_regression_reads_r2() -> None:
    assert label({"r2": 0.5, "val_r2": 0.45}, {}, RESTORED, True) == "underfitting"
    assert label({"r2": 0.95, "val_r2": 0.6}, {}, RESTORED, True) == "overfitting"
    assert label({"r2": 0.97, "val_r2": 0.94}, {}, RESTORED, True) == "good_fit"


def advice(spec: JobSpec, params: dict, metrics: dict, fit: Fit = RESTORED) -> list[str]:
    return diagnose(metrics, {}, spec, configuration(spec.fixed, params), fit)["advice"]


OVERFIT = {"accuracy": 1.0, "val_accuracy": 0.8}
UNDERFIT = {"accuracy": 0.5, "val_accuracy": 0.5}


def test_overfit_advice_follows_the_configuration() -> None:
    restoring = job(early_stopping={"patience": 3, "restore_best_weights": True})
    said = " ".join(advice(restoring, {"dropout": 0.5, "units": 32}, OVERFIT))
    assert "early_stopping" not in said and "Stop" not in said  # the best epoch was kept
    assert "dropout is at the top of what is searched (0.5); widen search_space.dropout" in said
    assert "raise dropout" not in said
    assert "search l2 (now 0, not searched)" in said  # not searched: raising it means searching it
    within = " ".join(advice(restoring, {"dropout": 0.1}, OVERFIT))
    assert "raise dropout (now 0.1, searched up to 0.5)" in within
    no_stopping = " ".join(advice(job(early_stopping={"enabled": False}), {}, OVERFIT, LAST))
    assert "turn on training.early_stopping with restore_best_weights" in no_stopping


def test_advice_on_a_hyperparameter_searched_from_choices() -> None:
    """A categorical dimension has no high end: its largest numeric choice is the top."""
    spec = copy.deepcopy(VALID_SPEC)
    spec["search_space"]["units"] = {"type": "categorical", "choices": [16, 64, 256]}
    spec["search_space"]["dropout"] = {"type": "categorical", "choices": [0.1, 0.3]}
    searched = load_spec(spec)
    said = " ".join(advice(searched, {"units": 64, "dropout": 0.3}, OVERFIT))
    said += " ".join(advice(searched, {"units": 64}, UNDERFIT))
    assert "dropout is at the top of what is searched (0.3); add larger choices." in said
    assert "raise units (now 64, searched up to 256)" in said


def test_underfit_advice_follows_the_configuration() -> None:
    spec = job(early_stopping={"enabled": False})
    params = {"activation": "sigmoid", "learning_rate": 1e-3, "units": 32}
    said = " ".join(advice(spec, {**params, "optimizer": "sgd"}, UNDERFIT, Fit(True, 0.9, True)))
    assert "non-saturating activation (now sigmoid)" in said
    assert "add momentum" in said
    assert "used all 8 epochs" in said
    assert "units is at the top of what is searched (32)" in said
    assert "Regularize less" not in said  # nothing regularizes it
    regularized = " ".join(advice(spec, {**params, "dropout": 0.3}, UNDERFIT))
    assert "Regularize less: lower dropout 0.3" in regularized
    assert "momentum" not in regularized  # adam


# Really trained: the three cases the diagnosis was reworked on.


def digits_job(spec: dict[str, Any], **training: Any) -> JobSpec:
    spec = {**spec, "dataset": {"builtin": "digits"}, "fixed": {}}
    spec["training"] = {**spec["training"], **training}
    return load_spec(spec)


def trained(spec: JobSpec, params: dict, dataset: Any = None) -> dict[str, Any]:
    data = dataset if dataset is not None else load_builtin("digits")
    config = configuration(spec.fixed, params)
    result = fit_trial(spec, config, data, seed=0)
    return diagnose(result.metrics, result.history, spec, config, Fit.of(result, spec))


def test_sigmoid_and_plain_sgd_at_a_tiny_rate_underfits(spec: dict[str, Any]) -> None:
    job_spec = digits_job(spec, max_epochs=3, early_stopping={"enabled": False})
    params = {"activation": "sigmoid", "optimizer": "sgd", "learning_rate": 1e-4, "units": 32}
    found = trained(job_spec, params)
    assert found["label"] == "underfitting", found
    assert any("non-saturating" in a for a in found["advice"])


def test_a_wide_unregularized_mlp_on_150_images_overfits(spec: dict[str, Any]) -> None:
    job_spec = digits_job(spec, max_epochs=60, early_stopping={"enabled": False})
    job_spec = replace(
        job_spec, training=replace(job_spec.training, validation=ValidationSpec("dataset"))
    )
    full = load_builtin("digits")
    small = replace(full, x_train=full.x_train[:150], y_train=full.y_train[:150],
                    x_val=full.x_train[150:650], y_val=full.y_train[150:650])  # fmt: skip
    params = {"units": 512, "n_layers": 2, "learning_rate": 3e-3, "batch_size": 32}
    found = trained(job_spec, params, small)
    assert found["label"] == "overfitting", found
    assert any("early_stopping" in a for a in found["advice"])


def test_a_tuned_relu_adam_model_is_a_good_fit(spec: dict[str, Any]) -> None:
    job_spec = digits_job(
        spec,
        max_epochs=40,
        early_stopping={"monitor": "val_loss", "patience": 5, "restore_best_weights": True},
    )
    params = {"activation": "relu", "optimizer": "adam", "learning_rate": 3e-3, "units": 128,
              "n_layers": 1, "batch_size": 32}  # fmt: skip
    found = trained(job_spec, params)
    assert found["label"] == "good_fit", found


def test_a_smaller_model_is_advised_in_the_layers_it_has() -> None:
    spec = job()
    said = " ".join(advice(spec, {"n_layers": 2, "units": 32}, OVERFIT))
    assert "fewer layers (now 2) or units (now 32)" in said
    conv = diagnose(OVERFIT, {}, spec, configuration({}, {}, "conv1d"), RESTORED)["advice"]
    assert "fewer filters (now 32) or conv_blocks (now 3)" in " ".join(conv)
    assert "fewer layers" not in " ".join(conv)  # the conv defaults have no dense layer
