"""Output shapes and parameter counts of the allowed layers, in plain Python.

The API has no Keras, yet must refuse an architecture whose shapes do not fit or whose model is
over the server's parameter cap before any worker builds it. These formulas follow Keras 3's own
(``compute_conv_output_shape`` and each layer's ``build``); a test builds every allowed type in
Keras and compares both. Shapes are one sample's, without the batch axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from service.core.architecture.allowlist import LAYER_TYPES

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """The layer cannot take its input; the message says why and what would fit, ``path``
    which declared layer it is (set by ``sizing.measure``)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def output(type_name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    """The layer's output shape and its parameter count (trainable and not) on ``shape``."""
    layer = LAYER_TYPES[type_name]
    resolved = {name: args.get(name, arg.default) for name, arg in layer.args.items()}
    if layer.rank and len(shape) != layer.rank + 1:
        wanted = {1: "[steps, channels]", 2: "[height, width, channels]"}[layer.rank]
        fix = (
            "Add a Reshape before it."
            if len(shape) <= layer.rank
            else "Add a Reshape, a Flatten or a pooling layer before it."
        )
        raise ShapeError(f"{type_name} needs a {wanted} input; it gets {list(shape)}. {fix}")
    return _RULES.get(type_name, _same)(type_name, resolved, shape)


def merged(type_name: str, args: Mapping[str, Any], shapes: list[Shape]) -> tuple[Shape, int]:
    """The output shape and parameter count of a layer that takes several tensors (a graph's
    ``Add``, ``Concatenate``, ``MultiHeadAttention``...)."""
    resolved = {n: args.get(n, a.default) for n, a in LAYER_TYPES[type_name].args.items()}
    shown = ", ".join(str(list(shape)) for shape in shapes)
    if type_name == "MultiHeadAttention":
        return _attention(resolved, shapes, shown)
    if type_name == "Concatenate":
        rank = len(shapes[0])
        axis = int(resolved["axis"])
        index = rank + axis if axis < 0 else axis - 1
        if any(len(s) != rank for s in shapes) or not 0 <= index < rank:
            raise ShapeError(f"Concatenate: axis {axis} does not fit inputs {shown}.")
        rest = {s[:index] + s[index + 1 :] for s in shapes}
        if len(rest) != 1:
            raise ShapeError(
                f"Concatenate: inputs {shown} differ beyond axis {axis}; only that axis may."
            )
        joined = sum(s[index] for s in shapes)
        return (*shapes[0][:index], joined, *shapes[0][index + 1 :]), 0
    if len(set(shapes)) != 1:
        raise ShapeError(f"{type_name} needs inputs of one shape; it gets {shown}.")
    return shapes[0], 0


def _attention(args: Mapping[str, Any], shapes: list[Shape], shown: str) -> tuple[Shape, int]:
    """Keras's ``MultiHeadAttention(query, value, key=value)``: projections of each input to
    ``num_heads`` heads, and one back to the query's width."""
    query, value = shapes[0], shapes[1]
    key = shapes[2] if len(shapes) > 2 else value
    if min(len(query), len(value), len(key)) < 2 or value[:-1] != key[:-1]:
        raise ShapeError(
            "MultiHeadAttention takes [steps, features] inputs (query, value and optionally "
            f"key, with value and key of the same steps); it gets {shown}."
        )
    if len(query) != len(value):
        raise ShapeError(f"MultiHeadAttention: query and value differ in rank: {shown}.")
    heads, key_dim = int(args["num_heads"]), int(args["key_dim"])
    value_dim = int(args["value_dim"] or key_dim)
    bias = 1 if args["use_bias"] else 0
    width = query[-1]
    params = (
        (query[-1] + bias) * heads * key_dim
        + (key[-1] + bias) * heads * key_dim
        + (value[-1] + bias) * heads * value_dim
        + heads * value_dim * width
        + bias * width
    )
    return query, params


def _window(value: Any, rank: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (int(value),) * rank


def _conv_axes(name: str, args: Mapping[str, Any], spatial: Shape, key: str) -> Shape:
    rank = len(spatial)
    size = _window(args[key], rank)
    strides = _window(args["strides"] if args["strides"] is not None else args[key], rank)
    dilation = _window(args.get("dilation_rate", 1), rank)
    if max(strides) > 1 and max(dilation) > 1:
        raise ShapeError(f"{name}: strides and dilation_rate cannot both be above 1.")
    out = []
    for n, k, s, d in zip(spatial, size, strides, dilation, strict=True):
        if args["padding"] == "valid":
            span = d * (k - 1) + 1
            if n < span:
                raise ShapeError(
                    f"{name}: a window of {span} does not fit an axis of {n} with padding "
                    "'valid'; use padding 'same' or a smaller window."
                )
            out.append((n - span) // s + 1)
        else:  # same, causal
            out.append(math.ceil(n / s))
    return tuple(out)


def _conv(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    spatial, channels = shape[:-1], shape[-1]
    window = math.prod(_window(args["kernel_size"], len(spatial)))
    bias = 1 if args["use_bias"] else 0
    depth = int(args.get("depth_multiplier") or 1)
    if name.startswith("Separable"):
        filters = int(args["filters"])
        params = window * channels * depth + channels * depth * filters + bias * filters
    elif name.startswith("Depthwise"):
        filters = channels * depth
        params = window * filters + bias * filters
    else:
        filters = int(args["filters"])
        params = window * channels * filters + bias * filters
    return (*_conv_axes(name, args, spatial, "kernel_size"), filters), params


def _pool(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    args = {**args, "dilation_rate": 1}
    return (*_conv_axes(name, args, shape[:-1], "pool_size"), shape[-1]), 0


def _global(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    return (shape[-1],), 0


def _dense(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    units = int(args["units"])
    return (*shape[:-1], units), shape[-1] * units + (units if args["use_bias"] else 0)


def _flatten(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    return (math.prod(shape),), 0


def _reshape(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    target = [int(v) for v in args["target_shape"]]
    size = math.prod(shape)
    if target.count(-1) > 1 or 0 in target:
        raise ShapeError("Reshape: target_shape takes positive sizes and at most one -1.")
    known = math.prod(v for v in target if v != -1)
    if -1 in target:
        if size % known:
            raise ShapeError(f"Reshape: {list(shape)} ({size} values) does not split into "
                             f"{target}.")  # fmt: skip
        target[target.index(-1)] = size // known
    elif known != size:
        raise ShapeError(f"Reshape: {list(shape)} holds {size} values; {target} holds {known}.")
    return tuple(target), 0


def _normalization(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    per_channel = 4 if name == "BatchNormalization" else 2  # gamma, beta (and moving stats)
    return shape, per_channel * shape[-1]


def _recurrent(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    units, features = int(args["units"]), shape[-1]
    cell = units * (features + units) + units
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[name]
    params = gates * cell + (gates * units if name == "GRU" else 0)  # GRU: reset_after biases
    return ((shape[0], units) if args["return_sequences"] else (units,)), params


def _bidirectional(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    """Two copies of the wrapped layer, one reading backwards; ``concat`` joins their outputs."""
    inner = args["layer"]
    out, params = output(inner.type, inner.kwargs, shape)
    if args["merge_mode"] == "concat":
        out = (*out[:-1], 2 * out[-1])
    return out, 2 * params


def _embedding(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    return (*shape, int(args["output_dim"])), int(args["input_dim"]) * int(args["output_dim"])


def _same(name: str, args: Mapping[str, Any], shape: Shape) -> tuple[Shape, int]:
    return shape, 0


_Rule = Callable[[str, Mapping[str, Any], Shape], tuple[Shape, int]]
_RULES: dict[str, _Rule] = {
    "Dense": _dense,
    "Flatten": _flatten,
    "Embedding": _embedding,
    "Bidirectional": _bidirectional,
    "Reshape": _reshape,
    "BatchNormalization": _normalization,
    "LayerNormalization": _normalization,
    **{n: _conv for n in LAYER_TYPES if "Conv" in n},
    **{n: _pool for n in LAYER_TYPES if n.startswith(("MaxPooling", "AveragePooling"))},
    **{n: _global for n in LAYER_TYPES if n.startswith("Global")},
    **{n: _recurrent for n in ("SimpleRNN", "LSTM", "GRU")},
}
