"""Each hyperparameter the builder reads takes effect on the built model."""

from __future__ import annotations

import keras
import pytest

from service.core.catalog import CLASSIFICATION, REGRESSION
from service.core.vocabulary import configuration
from worker.engine.models import build_model


def build(task: str = CLASSIFICATION, n_classes: int | None = 3, **params: object) -> keras.Model:
    return build_model("mlp", configuration({}, dict(params)), 5, task, n_classes)


def dense(model: keras.Model) -> list[keras.layers.Dense]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def test_depth_width_and_activation() -> None:
    model = build(n_layers=3, units=17, activation="tanh")
    hidden = dense(model)[:-1]
    assert len(hidden) == 3
    assert all(layer.units == 17 for layer in hidden)
    assert all(layer.activation.__name__ == "tanh" for layer in hidden)


def test_dropout_layers_carry_their_rate() -> None:
    model = build(n_layers=2, dropout=0.3)
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.3, 0.3]
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in build().layers)


def test_l1_l2_penalties_are_on_the_kernels_with_their_factors() -> None:
    model = build(l1=0.01, l2=0.002)
    regularizer = dense(model)[0].kernel_regularizer
    assert regularizer.get_config() == pytest.approx({"l1": 0.01, "l2": 0.002})
    assert len(model.losses) == 2  # one penalty per hidden layer
    assert dense(build())[0].kernel_regularizer is None


@pytest.mark.parametrize(
    ("task", "n_classes", "units", "activation", "loss"),
    [
        (CLASSIFICATION, 10, 10, "softmax", "sparse_categorical_crossentropy"),
        (CLASSIFICATION, 2, 1, "sigmoid", "binary_crossentropy"),
        (REGRESSION, None, 1, "linear", "mean_squared_error"),
    ],
)
def test_output_layer_follows_the_task(
    task: str, n_classes: int | None, units: int, activation: str, loss: str
) -> None:
    model = build(task, n_classes)
    output = dense(model)[-1]
    assert output.units == units
    assert output.activation.__name__ == activation
    assert model.loss == loss


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("adam", "Adam"),
        ("sgd", "SGD"),
        ("rmsprop", "RMSprop"),
        ("adagrad", "Adagrad"),
        ("adamw", "AdamW"),
        ("nadam", "Nadam"),
    ],
)
def test_optimizer_and_learning_rate(name: str, cls: str) -> None:
    model = build(optimizer=name, learning_rate=0.0123)
    assert type(model.optimizer).__name__ == cls
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0123)


def test_sgd_momentum() -> None:
    assert build(optimizer="sgd", momentum=0.9).optimizer.momentum == pytest.approx(0.9)
