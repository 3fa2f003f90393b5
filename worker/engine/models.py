"""Keras model builders: hyperparameters in, compiled model out.

Only names from ``service.core.vocabulary`` are read; no client-supplied Keras config is ever
deserialised. Backend-agnostic Keras 3 (no ``tf.*``), so the same code runs on JAX or PyTorch.
Models take flat feature vectors and reshape them for the conv families, so one data pipeline
serves every family. ``service.core.spec.capacity`` counts these layers without Keras: change both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

from service.core.architecture import Architecture
from service.core.architecture.sizing import outputs_for
from service.core.catalog import CLASSIFICATION
from worker import plugins
from worker.engine.declared import declared_body, initializer
from worker.engine.schedules import learning_rate

_POOLING = {
    ("conv1d", "max"): keras.layers.MaxPooling1D,
    ("conv1d", "average"): keras.layers.AveragePooling1D,
    ("conv2d", "max"): keras.layers.MaxPooling2D,
    ("conv2d", "average"): keras.layers.AveragePooling2D,
}
_CONV = {"conv1d": keras.layers.Conv1D, "conv2d": keras.layers.Conv2D}
_GLOBAL = {
    ("conv1d", "average"): keras.layers.GlobalAveragePooling1D,
    ("conv1d", "max"): keras.layers.GlobalMaxPooling1D,
    ("conv2d", "average"): keras.layers.GlobalAveragePooling2D,
    ("conv2d", "max"): keras.layers.GlobalMaxPooling2D,
}
_REGRESSION_LOSSES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber": "huber"}


def build_model(
    family: str,
    config: Mapping[str, Any],
    input_shape: Sequence[int],
    task: str,
    n_classes: int | None,
    *,
    steps_per_epoch: int = 1,
    max_epochs: int = 1,
    rate: Any = None,
    embedded: Sequence[int] = (),
    architecture: Architecture | None = None,
    plugin: str | None = None,
    max_params: int | None = None,
    steps_per_execution: int | Callable[[keras.Model], int] = 1,
) -> keras.Model:
    """Build and compile the model a trial trains.

    ``input_shape`` is one sample's shape as the family sees it (``(n,)`` for mlp, ``(n, 1)``
    for conv1d, ``(h, w, c)`` for conv2d); ``steps_per_epoch`` and ``max_epochs`` place the
    learning-rate schedule's steps; ``rate`` replaces the configured learning rate (the range
    test's rising schedule). ``embedded``: the vocabulary sizes of a table's embedded columns,
    whose indices are the input's last columns (``worker.engine.tables``). ``architecture``:
    the layers of a ``declared`` model (``worker.engine.declared``); ``plugin``: the name of
    an operator's family (``worker.plugins``), whose ``build`` makes the body; ``max_params``:
    the server's cap, which a declared model's configuration is checked against first;
    ``steps_per_execution``: optimizer steps per call into the compiled step (per-batch
    callbacks then run once per call), or what gives it from the built model.
    """
    if family not in ("mlp", "declared", "plugin", *_CONV):
        raise ValueError(f"unknown model family {family!r}")
    n_features = 1
    for size in input_shape:
        n_features *= int(size)
    inputs = keras.Input(shape=(n_features,), name="features")
    x = embed(inputs, n_features, embedded, int(config.get("embedding_dim", 8)))
    if family in ("declared", "plugin") and len(input_shape) > 1:
        x = keras.layers.Reshape(tuple(input_shape), name="to_input_shape")(x)
    if family == "plugin":
        x = plugins.family(str(plugin)).build(config, x)
    elif family == "declared":
        if architecture is None:
            raise ValueError("a declared model needs its layers")
        x = declared_body(architecture, config, x, outputs_for(task, n_classes), max_params)
    elif family in _CONV:
        x = keras.layers.Reshape(tuple(input_shape), name="to_grid")(x)
        x = conv_blocks(family, config, x)
        if config["global_pooling"] == "none":
            x = keras.layers.Flatten(name="flatten")(x)
        else:  # one value per filter, wherever it fired: the head sees what, not where
            x = _GLOBAL[(family, config["global_pooling"])](name="global_pool")(x)
        if config["dropout"] > 0:  # as in Keras's MNIST convnet: the features the head reads
            x = keras.layers.Dropout(float(config["dropout"]), name="dropout_conv")(x)
    if family not in ("declared", "plugin"):
        x = dense_layers(config, x)
    if architecture is None or not architecture.output_layer:
        x = output_layer(task, n_classes)(x)
    model = keras.Model(inputs, x, name=str(family))
    if callable(steps_per_execution):
        steps_per_execution = steps_per_execution(model)
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch, max_epochs, rate),
        loss=loss_for(task, n_classes, config.get("loss", "mse")),
        metrics=metrics_for(task, n_classes),
        steps_per_execution=steps_per_execution,
    )
    return model


def embed(x: Any, width: int, sizes: Sequence[int], dim: int) -> Any:
    """The dense columns, then an ``Embedding`` of each index column (the last ``len(sizes)``)."""
    if not sizes:
        return x
    start = width - len(sizes)
    parts = [x[:, :start]] if start else []
    for j, size in enumerate(sizes):
        index = keras.ops.cast(x[:, start + j], "int32")
        parts.append(keras.layers.Embedding(int(size), dim, name=f"embedding_{j}")(index))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="embedded")(parts)


def _regularizer(config: Mapping[str, Any]) -> keras.regularizers.Regularizer | None:
    l1, l2 = float(config["l1"]), float(config["l2"])
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def _activate(config: Mapping[str, Any], x: Any, name: str) -> Any:
    """Batch normalization (when on) sits between the linear part and its activation."""
    if config["batch_norm"]:
        x = keras.layers.BatchNormalization(name=f"batch_norm_{name}")(x)
    return keras.layers.Activation(config["activation"], name=f"activation_{name}")(x)


def dense_layers(config: Mapping[str, Any], x: Any) -> Any:
    """Hidden dense layers with their widths, initializer, L1/L2 penalties and dropout."""
    for i in range(1, int(config["n_layers"]) + 1):
        x = keras.layers.Dense(
            int(config[f"units_{i}"]),
            kernel_initializer=initializer(config["kernel_initializer"]),
            kernel_regularizer=_regularizer(config),
            name=f"dense_{i}",
        )(x)
        x = _activate(config, x, f"dense_{i}")
        if config["dropout"] > 0:
            x = keras.layers.Dropout(float(config["dropout"]), name=f"dropout_{i}")(x)
    return x


def conv_blocks(family: str, config: Mapping[str, Any], x: Any) -> Any:
    """Convolution blocks ("same" padding), each followed by pooling of size 2 unless none."""
    for i in range(1, int(config["conv_blocks"]) + 1):
        x = _CONV[family](
            int(config[f"filters_{i}"]),
            int(config["kernel_size"]),
            padding="same",
            kernel_initializer=initializer(config["kernel_initializer"]),
            kernel_regularizer=_regularizer(config),
            name=f"conv_{i}",
        )(x)
        x = _activate(config, x, f"conv_{i}")
        if config["pooling"] != "none":
            x = _POOLING[(family, config["pooling"])](2, padding="same", name=f"pool_{i}")(x)
    return x


def output_layer(task: str, n_classes: int | None) -> keras.layers.Layer:
    """The output follows the task: softmax, sigmoid for two classes, linear for regression."""
    if task == CLASSIFICATION and (n_classes or 0) > 2:
        return keras.layers.Dense(int(n_classes or 0), activation="softmax", name="output")
    if task == CLASSIFICATION:
        return keras.layers.Dense(1, activation="sigmoid", name="output")
    return keras.layers.Dense(1, activation="linear", name="output")


def loss_for(task: str, n_classes: int | None, regression_loss: str = "mse") -> str:
    if task == CLASSIFICATION:
        return "sparse_categorical_crossentropy" if (n_classes or 0) > 2 else "binary_crossentropy"
    return _REGRESSION_LOSSES[regression_loss]


def metrics_for(task: str, n_classes: int | None) -> list[keras.metrics.Metric]:
    """What Keras tracks per epoch (early stopping and pruning watch these); the rest of the
    reported metrics are computed from predictions after training (``worker.engine.metrics``).
    ``worker.engine.evaluation.compiled_metrics`` computes these from predictions: change both."""
    if task == CLASSIFICATION and (n_classes or 0) > 2:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if task == CLASSIFICATION:
        return [keras.metrics.BinaryAccuracy(name="accuracy")]
    return [
        keras.metrics.MeanSquaredError(name="mse"),
        keras.metrics.MeanAbsoluteError(name="mae"),
    ]


def make_optimizer(
    config: Mapping[str, Any], steps_per_epoch: int = 1, max_epochs: int = 1, rate: Any = None
) -> keras.optimizers.Optimizer:
    name = config["optimizer"]
    if rate is None:
        rate = learning_rate(config, steps_per_epoch, max_epochs)
    common: dict[str, Any] = {"learning_rate": rate}
    if config["clipnorm"]:
        common["clipnorm"] = float(config["clipnorm"])
    if name == "sgd":
        return keras.optimizers.SGD(
            momentum=float(config["momentum"]), nesterov=bool(config["nesterov"]), **common
        )
    if name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=float(config["momentum"]), **common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=float(config["weight_decay"]), **common)
    factories = {
        "adam": keras.optimizers.Adam,
        "adagrad": keras.optimizers.Adagrad,
        "nadam": keras.optimizers.Nadam,
    }
    if name not in factories:
        raise ValueError(f"unknown optimizer {name!r}")
    return factories[name](**common)
