"""Each hyperparameter the builder reads takes effect on the built model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from service.core.catalog import CLASSIFICATION, REGRESSION
from service.core.spec.capacity import count_params
from service.core.vocabulary import configuration
from worker.engine.models import build_model


def build(
    task: str = CLASSIFICATION,
    n_classes: int | None = 3,
    family: str = "mlp",
    shape: tuple[int, ...] = (5,),
    **params: object,
) -> keras.Model:
    config = configuration({}, dict(params), family, task)
    return build_model(family, config, shape, task, n_classes, steps_per_epoch=10, max_epochs=5)


def layers(model: keras.Model, kind: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def hidden(model: keras.Model) -> list[keras.layers.Dense]:
    return [d for d in layers(model, keras.layers.Dense) if d.name != "output"]


def test_depth_width_and_activation() -> None:
    model = build(n_layers=3, units=17, activation="tanh")
    assert [d.units for d in hidden(model)] == [17, 17, 17]
    activations = layers(model, keras.layers.Activation)
    assert [a.activation.__name__ for a in activations] == ["tanh"] * 3


def test_per_layer_units_override_units_only_where_active() -> None:
    model = build(n_layers=2, units=8, units_1=30, units_3=99)
    assert [d.units for d in hidden(model)] == [30, 8]  # units_3 inactive with two layers
    config = configuration({}, {"n_layers": 2, "units_1": 30, "units_3": 99})
    assert config["units_1"] == 30 and config["units_2"] == 64
    assert "units_3" not in config  # inactive: absent, not a value


@pytest.mark.parametrize("name", ["relu", "elu", "selu", "gelu", "leaky_relu", "swish", "sigmoid"])
def test_every_activation_builds(name: str) -> None:
    model = build(activation=name, n_layers=1)
    assert layers(model, keras.layers.Activation)[0].activation is keras.activations.get(name)


def test_kernel_initializer() -> None:
    model = build(kernel_initializer="he_normal", n_layers=1)
    assert type(hidden(model)[0].kernel_initializer).__name__ == "HeNormal"


def test_dropout_layers_carry_their_rate() -> None:
    rates = [layer.rate for layer in layers(build(n_layers=2, dropout=0.3), keras.layers.Dropout)]
    assert rates == [0.3, 0.3]
    assert not layers(build(), keras.layers.Dropout)


def test_l1_l2_penalties_are_on_the_kernels_with_their_factors() -> None:
    model = build(l1=0.01, l2=0.002)
    regularizer = hidden(model)[0].kernel_regularizer
    assert regularizer.get_config() == pytest.approx({"l1": 0.01, "l2": 0.002})
    assert len(model.losses) == 2  # one penalty per hidden layer
    kernel = np.asarray(hidden(model)[0].kernel)
    expected = 0.01 * np.abs(kernel).sum() + 0.002 * np.square(kernel).sum()
    assert float(model.losses[0]) == pytest.approx(expected, rel=1e-4)
    assert hidden(build())[0].kernel_regularizer is None


def test_batch_norm_sits_before_each_activation() -> None:
    model = build(n_layers=2, batch_norm=True)
    names = [layer.name for layer in model.layers]
    assert len(layers(model, keras.layers.BatchNormalization)) == 2
    assert names.index("batch_norm_dense_1") < names.index("activation_dense_1")
    assert not layers(build(), keras.layers.BatchNormalization)


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
    output = model.get_layer("output")
    assert output.units == units
    assert output.activation.__name__ == activation
    assert model.loss == loss


@pytest.mark.parametrize(
    ("name", "loss"),
    [("mse", "mean_squared_error"), ("mae", "mean_absolute_error"), ("huber", "huber")],
)
def test_regression_loss(name: str, loss: str) -> None:
    assert build(REGRESSION, None, loss=name).loss == loss


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


def test_sgd_momentum_and_nesterov() -> None:
    optimizer = build(optimizer="sgd", momentum=0.9, nesterov=True).optimizer
    assert optimizer.momentum == pytest.approx(0.9) and optimizer.nesterov is True
    assert build(optimizer="sgd").optimizer.nesterov is False
    assert build(optimizer="rmsprop", momentum=0.5).optimizer.momentum == pytest.approx(0.5)


def test_adamw_weight_decay_and_clipnorm() -> None:
    optimizer = build(optimizer="adamw", weight_decay=0.03, clipnorm=1.5).optimizer
    assert optimizer.weight_decay == pytest.approx(0.03)
    assert optimizer.clipnorm == pytest.approx(1.5)
    assert build().optimizer.clipnorm is None
    # weight_decay only means something for adamw: it is left out elsewhere
    assert "weight_decay" not in configuration({}, {"optimizer": "adam", "weight_decay": 0.1})


@pytest.mark.parametrize("pooling", ["max", "average", "none"])
def test_conv1d_blocks(pooling: str) -> None:
    model = build(
        family="conv1d",
        shape=(12, 1),
        conv_blocks=2,
        filters=4,
        filters_2=6,
        kernel_size=5,
        pooling=pooling,
        n_layers=1,
        units=7,
    )
    convs = layers(model, keras.layers.Conv1D)
    assert [c.filters for c in convs] == [4, 6]
    assert all(c.kernel_size == (5,) for c in convs)
    pools = [layer for layer in model.layers if layer.name.startswith("pool_")]
    assert len(pools) == (0 if pooling == "none" else 2)
    if pools:
        assert type(pools[0]).__name__.startswith(pooling.capitalize())
    assert hidden(model)[0].units == 7  # the dense head takes the MLP parameters


@pytest.mark.parametrize("family", ["conv1d", "conv2d"])
@pytest.mark.parametrize("pooled", ["average", "max"])
def test_global_pooling_replaces_flattening(family: str, pooled: str) -> None:
    shape = (12, 1) if family == "conv1d" else (6, 6, 1)
    model = build(family=family, shape=shape, filters=5, global_pooling=pooled, n_layers=0)
    pool = model.get_layer("global_pool")
    assert type(pool).__name__ == f"Global{pooled.capitalize()}Pooling{family[-2:].upper()}"
    assert pool.output.shape[1:] == (5,)  # one value per filter, whatever the length
    assert not [layer for layer in model.layers if layer.name == "flatten"]


def test_conv2d_takes_image_shape() -> None:
    model = build(family="conv2d", shape=(8, 8, 1), conv_blocks=1, filters=3, kernel_size=3)
    assert model.get_layer("to_grid").output.shape[1:] == (8, 8, 1)
    assert layers(model, keras.layers.Conv2D)[0].kernel_size == (3, 3)
    assert model.input_shape == (None, 64)  # flat features in, reshaped inside


@pytest.mark.parametrize(
    ("family", "shape", "params"),
    [
        ("mlp", (5,), {"n_layers": 3, "units": 9, "units_2": 4, "batch_norm": True}),
        ("mlp", (5,), {"n_layers": 0}),
        ("conv1d", (13, 1), {"conv_blocks": 3, "filters": 5, "kernel_size": 4, "pooling": "max"}),
        (
            "conv2d",
            (8, 8, 1),
            {"conv_blocks": 2, "filters_1": 3, "pooling": "none", "batch_norm": True},
        ),
        ("conv2d", (7, 5, 2), {"conv_blocks": 4, "filters": 2, "kernel_size": 2, "n_layers": 1}),
        ("conv1d", (13, 1), {"conv_blocks": 2, "filters": 5, "global_pooling": "average"}),
        ("conv2d", (8, 8, 1), {"filters": 3, "global_pooling": "max", "n_layers": 1}),
    ],
)
def test_capacity_counts_like_keras(family: str, shape: tuple[int, ...], params: dict) -> None:
    for task, n_classes in ((CLASSIFICATION, 4), (CLASSIFICATION, 2), (REGRESSION, None)):
        config = configuration({}, params, family, task)
        model = build_model(family, config, shape, task, n_classes)
        assert count_params(config, family, shape, task, n_classes) == model.count_params()


@pytest.mark.parametrize(
    ("family", "shape", "kernel", "filters"),
    [("conv1d", (64, 1), 5, 32), ("conv2d", (8, 8, 1), 3, 64)],
)
def test_conv_families_default_to_pooled_blocks_into_global_average_pooling(
    family: str, shape: tuple[int, ...], kernel: int, filters: int
) -> None:
    """The measured defaults (``bench/conv_defaults.py``): three blocks, max pooling after each,
    global average pooling into the output, no hidden dense layer; the MLP keeps its own."""
    model = build(family=family, shape=shape)
    convs = [layer for layer in model.layers if layer.name.startswith("conv_")]
    assert [c.kernel_size for c in convs] == [(kernel,) * len(shape[:-1])] * 3
    assert [c.filters for c in convs] == [filters] * 3
    assert len([layer for layer in model.layers if layer.name.startswith("pool_")]) == 3
    assert type(model.get_layer("global_pool")).__name__.startswith("GlobalAveragePooling")
    assert not hidden(model)
    assert len(hidden(build(family="mlp"))) == 2  # the table's n_layers for the MLP
    assert "units" not in configuration({}, {}, family)  # no dense layer: no width to report
