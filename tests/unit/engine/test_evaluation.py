"""The engine measures a model as Keras does, without Keras's ``evaluate``: the one-pass scores
and the per-epoch validation agree with ``model.evaluate`` and ``validation_data``, and a trial
gives the same objective as the plain Keras loop it replaces."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest

from service.core.catalog import CLASSIFICATION, REGRESSION
from service.core.spec import load_spec
from service.core.vocabulary import configuration
from worker.engine.dataset_loader import load_builtin
from worker.engine.evaluation import Validation, measure
from worker.engine.execution import MAX_STEPS_PER_EXECUTION, steps_per_execution
from worker.engine.models import build_model
from worker.engine.training import compiled_model, fit_trial, preprocessor_for, validation_folds

REGULARIZED = {"l1": 1e-3, "l2": 1e-2, "dropout": 0.3, "batch_norm": True, "units": 12}
CASES = [
    (CLASSIFICATION, 4, {}),  # sparse categorical cross-entropy, arg-max accuracy
    (CLASSIFICATION, 2, {}),  # binary cross-entropy, accuracy above 0.5
    (REGRESSION, None, {"loss": "mse"}),
    (REGRESSION, None, {"loss": "huber"}),
]


def _data(task: str, n_classes: int | None, rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 6)).astype(np.float32)
    if task == CLASSIFICATION:
        return x, (np.abs(x[:, 0] * 3).astype(np.int64) % int(n_classes or 2))
    return x, (x[:, 0] * 2 + x[:, 1]).astype(np.float32)


def _model(task: str, n_classes: int | None, params: dict[str, Any]) -> keras.Model:
    keras.utils.set_random_seed(0)
    config = configuration({}, {**REGULARIZED, **params}, "mlp", task)
    return build_model("mlp", config, (6,), task, n_classes)


@pytest.mark.parametrize(("task", "n_classes", "params"), CASES)
def test_one_pass_scores_equal_keras_evaluate(
    task: str, n_classes: int | None, params: dict[str, Any]
) -> None:
    x, y = _data(task, n_classes, rows=2500)  # over one chunk: the chunks join in order
    model = _model(task, n_classes, params)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)  # moved batch-norm statistics, too
    assert model.losses, "the L1/L2 terms are part of the loss Keras reports"
    expected = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=1024)
    measured, predicted = measure(model, x, y, task)
    np.testing.assert_allclose(predicted, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert set(measured) == set(expected)
    for name, value in expected.items():
        assert measured[name] == pytest.approx(float(value), rel=1e-5, abs=1e-6), name


class _Penalised(keras.layers.Layer):
    """An operator's layer with an ``add_loss`` term that depends on the batch it saw."""

    def call(self, inputs: Any) -> Any:
        self.add_loss(0.1 * keras.ops.mean(keras.ops.square(inputs)))
        return inputs


def test_a_per_batch_loss_term_is_averaged_over_chunks_as_keras_averages_it() -> None:
    x, y = _data(CLASSIFICATION, 3, rows=2500)  # chunks of 1024, 1024 and 452 rows
    x[:1024] *= 5.0  # the first chunk's term is far larger than the last one's
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    outputs = keras.layers.Dense(3, activation="softmax")(_Penalised()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=1024)
    measured, _ = measure(model, x, y, CLASSIFICATION)
    assert measured["loss"] == pytest.approx(expected["loss"], rel=1e-5)


@pytest.mark.parametrize(("task", "n_classes", "params"), CASES[:3])
def test_validation_callback_logs_what_validation_data_logs(
    task: str, n_classes: int | None, params: dict[str, Any]
) -> None:
    x, y = _data(task, n_classes)
    fit, val = slice(0, 240), slice(240, None)
    runs = []
    for ours in (False, True):
        model = _model(task, n_classes, params)
        history = model.fit(
            x[fit], y[fit], epochs=3, batch_size=32, verbose=0, shuffle=False,
            validation_data=None if ours else (x[val], y[val]),
            callbacks=[Validation(x[val], y[val], task)] if ours else [],
        ).history  # fmt: skip
        runs.append(history)
    keras_run, ours_run = runs
    assert set(ours_run) == set(keras_run)
    for name, values in keras_run.items():
        np.testing.assert_allclose(ours_run[name], values, rtol=1e-5, atol=1e-6, err_msg=name)


def test_a_trial_scores_as_the_plain_keras_loop(spec: dict[str, Any]) -> None:
    """Several steps per execution, one pass for validation and scores: the same weights, so
    the same objective as ``fit(validation_data=...)``, early stopping and ``evaluate``."""
    spec["training"]["max_epochs"] = 6
    spec["training"]["early_stopping"]["patience"] = 2
    job, dataset = load_spec(spec), load_builtin("iris")
    params = {"learning_rate": 0.03, "units": 8, "activation": "relu", "batch_size": 16}
    config = configuration(job.fixed, params, job.model.family, job.task)
    ours = fit_trial(job, config, dataset, seed=11)

    x_fit, y_fit, x_val, y_val = validation_folds(job, dataset)[0]
    scaler = preprocessor_for(job, dataset, config).fit(x_fit)
    x_fit, x_val = scaler.transform(x_fit), scaler.transform(x_val)
    model, _ = compiled_model(job, config, dataset, len(x_fit), seed=11, features=scaler)
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=2, restore_best_weights=True
    )
    history = model.fit(
        x_fit, y_fit, validation_data=(x_val, y_val), epochs=6, batch_size=16,
        callbacks=[stopping], verbose=0,
    ).history  # fmt: skip
    plain = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
    assert ours.epochs == len(history["loss"])
    assert ours.metrics["val_accuracy"] == pytest.approx(plain["accuracy"], abs=1e-6)  # float32
    assert ours.metrics["val_loss"] == pytest.approx(plain["loss"], rel=1e-5)
    np.testing.assert_allclose(ours.history["val_loss"], history["val_loss"], rtol=1e-5)


def test_several_steps_a_call_train_the_same_weights_when_calls_do_not_divide_an_epoch() -> None:
    x, y = _data(CLASSIFICATION, 4, rows=1600)  # 100 steps of 16: calls of 64 and 36
    weights = []
    for per_call in (1, 64):
        model = _model(CLASSIFICATION, 4, {"batch_norm": False, "dropout": 0.0})
        model.compile(
            optimizer=model.optimizer, loss=model.loss, steps_per_execution=per_call,
            metrics=["accuracy"],
        )  # fmt: skip
        model.fit(x, y, epochs=3, batch_size=16, steps_per_epoch=100, verbose=0)
        weights.append(model.get_weights())
    for one, many in zip(*weights, strict=True):
        np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-6)


def test_several_steps_a_call_only_where_each_step_is_cheap() -> None:
    def config(**params: Any) -> dict[str, Any]:
        return configuration({}, {"batch_size": 32, **params}, "mlp", CLASSIFICATION)

    small = build_model("mlp", config(units=64), (64,), CLASSIFICATION, 10)
    assert steps_per_execution(config(), 36, small) == 36  # a whole small epoch in one call
    assert steps_per_execution(config(), 10_000, small) == MAX_STEPS_PER_EXECUTION
    warmup = config(lr_schedule="reduce_on_plateau", warmup_epochs=2)
    assert steps_per_execution(warmup, 36, small) == 1  # its callback sets every step's rate
    wide = config(units=2048, n_layers=4)  # about 13 M parameters: 2.5 GFLOP a step
    assert steps_per_execution(wide, 36, build_model("mlp", wide, (64,), CLASSIFICATION, 10)) == 1
    conv = configuration({}, {"batch_size": 32}, "conv2d", CLASSIFICATION)
    convnet = build_model("conv2d", conv, (8, 8, 1), CLASSIFICATION, 10)
    assert steps_per_execution(conv, 36, convnet) == 1  # its cost grows with the image
