"""Building a declared model (``model.layers``) from a trial's configuration.

The declaration was checked by the API (``service.core.architecture``); here its layers, with
their slots filled and repeats unrolled (``sizing.expand``), are built by looking each type up in
this module's own constructor table and calling it with the checked arguments. Nothing reads a
Keras config or deserializes anything, so a declaration can only ever produce these layers.
L1/L2 (when configured) go on every kernel, as they do in the built-in families.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from service.core.architecture import Architecture
from service.core.architecture.allowlist import LAYER_TYPES
from service.core.architecture.shapes import ShapeError
from service.core.architecture.sizing import expand, measure

CONSTRUCTORS: dict[str, type[keras.layers.Layer]] = {
    "Dense": keras.layers.Dense,
    "Conv1D": keras.layers.Conv1D,
    "Conv2D": keras.layers.Conv2D,
    "SeparableConv1D": keras.layers.SeparableConv1D,
    "SeparableConv2D": keras.layers.SeparableConv2D,
    "DepthwiseConv2D": keras.layers.DepthwiseConv2D,
    "MaxPooling1D": keras.layers.MaxPooling1D,
    "MaxPooling2D": keras.layers.MaxPooling2D,
    "AveragePooling1D": keras.layers.AveragePooling1D,
    "AveragePooling2D": keras.layers.AveragePooling2D,
    "GlobalAveragePooling1D": keras.layers.GlobalAveragePooling1D,
    "GlobalAveragePooling2D": keras.layers.GlobalAveragePooling2D,
    "GlobalMaxPooling1D": keras.layers.GlobalMaxPooling1D,
    "GlobalMaxPooling2D": keras.layers.GlobalMaxPooling2D,
    "Flatten": keras.layers.Flatten,
    "Reshape": keras.layers.Reshape,
    "Dropout": keras.layers.Dropout,
    "SpatialDropout1D": keras.layers.SpatialDropout1D,
    "SpatialDropout2D": keras.layers.SpatialDropout2D,
    "GaussianNoise": keras.layers.GaussianNoise,
    "BatchNormalization": keras.layers.BatchNormalization,
    "LayerNormalization": keras.layers.LayerNormalization,
    "Activation": keras.layers.Activation,
    "Rescaling": keras.layers.Rescaling,
    "Embedding": keras.layers.Embedding,
    "Bidirectional": keras.layers.Bidirectional,
    "SimpleRNN": keras.layers.SimpleRNN,
    "LSTM": keras.layers.LSTM,
    "GRU": keras.layers.GRU,
    "RandomFlip": keras.layers.RandomFlip,
    "RandomRotation": keras.layers.RandomRotation,
    "RandomZoom": keras.layers.RandomZoom,
    "RandomTranslation": keras.layers.RandomTranslation,
    "RandomContrast": keras.layers.RandomContrast,
    "Add": keras.layers.Add,
    "Subtract": keras.layers.Subtract,
    "Multiply": keras.layers.Multiply,
    "Average": keras.layers.Average,
    "Maximum": keras.layers.Maximum,
    "Minimum": keras.layers.Minimum,
    "Concatenate": keras.layers.Concatenate,
    "MultiHeadAttention": keras.layers.MultiHeadAttention,
}
"""One constructor per allowlisted type (a test keeps this table equal to the allowlist)."""


INITIALIZERS: dict[str, type[keras.initializers.Initializer]] = {
    "glorot_uniform": keras.initializers.GlorotUniform,
    "glorot_normal": keras.initializers.GlorotNormal,
    "he_uniform": keras.initializers.HeUniform,
    "he_normal": keras.initializers.HeNormal,
    "lecun_uniform": keras.initializers.LecunUniform,
    "lecun_normal": keras.initializers.LecunNormal,
    "orthogonal": keras.initializers.Orthogonal,
}
"""Initializers by the vocabulary's names, built here: Keras resolves a name through its
deserializer, which no client's choice is handed to."""


def initializer(name: str) -> keras.initializers.Initializer:
    return INITIALIZERS[name]()


def declared_body(
    architecture: Architecture,
    config: Mapping[str, Any],
    x: Any,
    outputs: int,
    max_params: int | None = None,
) -> Any:
    """The declared layers for ``config`` applied to ``x``; ``outputs``: the width of the
    task's output.

    Raises:
        ValueError: naming the layer, when this configuration's shapes do not fit, or over
            ``max_params`` (the API checked the space's corners and searched for its largest
            model; a configuration in between may still miss, and fails its own trial).
    """
    layers = expand(architecture, config)
    last = architecture.outputs[0] if architecture.graph else None
    try:
        size = measure(layers, tuple(x.shape[1:]), outputs, architecture.output_layer, last)
    except ShapeError as exc:
        raise ValueError(f"model.{exc.path}: {exc}") from None
    if max_params is not None and size > max_params:
        raise ValueError(
            f"model.layers: this configuration has {size:,} parameters; the limit is {max_params:,}"
        )
    penalty = _regularizer(config)
    tensors = {"input": x}
    for i, layer in enumerate(layers, start=1):
        # (prefixed: a node may not take the name of a layer tuneq adds, such as "output")
        name = f"node_{layer.name}" if layer.name else f"layer_{i}_{layer.type.lower()}"
        built = make_layer(layer.type, layer.kwargs, name=name, penalty=penalty)
        if not architecture.graph:
            x = built(x)
            continue
        given = [tensors[n] for n in layer.inputs]
        if layer.type == "MultiHeadAttention":  # (query, value, key)
            x = built(given[0], given[1], key=given[2] if len(given) > 2 else None)
        elif LAYER_TYPES[layer.type].inputs != (1, 1):
            x = built(given)
        else:
            x = built(given[0])
        tensors[layer.name] = x
    return tensors[architecture.outputs[0]] if architecture.graph else x


def make_layer(
    kind: str,
    kwargs: Mapping[str, Any],
    name: str | None = None,
    penalty: keras.regularizers.Regularizer | None = None,
) -> Any:
    """An allowlisted layer with the allowlist's defaults for what ``kwargs`` leaves out (the
    ones the API's shapes assumed: ``AveragePooling2D`` has no default pool size in Keras),
    ``penalty`` on each of its kernels (a ``Bidirectional``'s: on the layer it wraps)."""
    defaults = {n: a.default for n, a in LAYER_TYPES[kind].args.items() if a.default is not None}
    merged = {**defaults, **kwargs}
    if penalty is not None:
        merged.update({key: penalty for key in LAYER_TYPES[kind].kernels})
    if kind == "RandomContrast":  # Keras clips to (0, 255); these inputs are standardized
        merged["value_range"] = (-1e9, 1e9)
    if kind == "Bidirectional":
        inner = merged["layer"]
        merged["layer"] = make_layer(inner.type, inner.kwargs, penalty=penalty)
    if isinstance(merged.get("kernel_initializer"), str):
        merged["kernel_initializer"] = initializer(merged["kernel_initializer"])
    return CONSTRUCTORS[kind](**merged, name=name)


def _regularizer(config: Mapping[str, Any]) -> keras.regularizers.Regularizer | None:
    l1, l2 = float(config.get("l1", 0.0)), float(config.get("l2", 0.0))
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None
