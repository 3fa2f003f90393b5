"""Keras model builders: hyperparameters in, compiled model out.

Only names from ``service.core.vocabulary`` are read; no client-supplied Keras config is ever
deserialised. Backend-agnostic Keras 3 (no ``tf.*``), so the same code runs on JAX or PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from service.core.catalog import CLASSIFICATION


def build_model(
    family: str, params: Mapping[str, Any], n_features: int, task: str, n_classes: int | None
) -> keras.Model:
    """Build and compile the model a trial trains."""
    if family != "mlp":
        raise ValueError(f"unknown model family {family!r}")
    model = build_mlp(params, n_features, task, n_classes)
    model.compile(
        optimizer=make_optimizer(params),
        loss=loss_for(task, n_classes),
        metrics=metrics_for(task, n_classes),
    )
    return model


def build_mlp(
    params: Mapping[str, Any], n_features: int, task: str, n_classes: int | None
) -> keras.Model:
    """Dense layers with the chosen activation, L1/L2 penalties and dropout; output by task."""
    l1, l2 = float(params["l1"]), float(params["l2"])
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for i in range(int(params["n_layers"])):
        x = keras.layers.Dense(
            int(params["units"]),
            activation=params["activation"],
            kernel_regularizer=regularizer,
            name=f"dense_{i}",
        )(x)
        if params["dropout"] > 0:
            x = keras.layers.Dropout(float(params["dropout"]), name=f"dropout_{i}")(x)
    outputs = output_layer(task, n_classes)(x)
    return keras.Model(inputs, outputs, name="mlp")


def output_layer(task: str, n_classes: int | None) -> keras.layers.Layer:
    """The output follows the task: softmax, sigmoid for two classes, linear for regression."""
    if task == CLASSIFICATION and (n_classes or 0) > 2:
        return keras.layers.Dense(int(n_classes or 0), activation="softmax", name="output")
    if task == CLASSIFICATION:
        return keras.layers.Dense(1, activation="sigmoid", name="output")
    return keras.layers.Dense(1, activation="linear", name="output")


def loss_for(task: str, n_classes: int | None) -> str:
    if task == CLASSIFICATION:
        return "sparse_categorical_crossentropy" if (n_classes or 0) > 2 else "binary_crossentropy"
    return "mean_squared_error"


def metrics_for(task: str, n_classes: int | None) -> list[keras.metrics.Metric]:
    if task == CLASSIFICATION and (n_classes or 0) > 2:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if task == CLASSIFICATION:
        return [keras.metrics.BinaryAccuracy(name="accuracy")]
    return [
        keras.metrics.MeanSquaredError(name="mse"),
        keras.metrics.MeanAbsoluteError(name="mae"),
    ]


def make_optimizer(params: Mapping[str, Any]) -> keras.optimizers.Optimizer:
    name = params["optimizer"]
    lr = float(params["learning_rate"])
    momentum = float(params.get("momentum", 0.0))
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=momentum)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, momentum=momentum)
    factories = {
        "adam": keras.optimizers.Adam,
        "adagrad": keras.optimizers.Adagrad,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
    }
    if name not in factories:
        raise ValueError(f"unknown optimizer {name!r}")
    return factories[name](learning_rate=lr)
