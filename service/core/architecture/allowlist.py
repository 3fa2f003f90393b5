"""The Keras layer types a declared architecture may use, each with the arguments it may set.

This allowlist is why a tenant's architecture is safe to build: the worker looks a type up in its
own table and calls that constructor with these arguments only, after the API has checked each
one here (its JSON type and range). No Keras deserializer ever sees a client's document, and no
argument can name a class, a function or a file (CVE-2025-1550 and CVE-2025-9906 came through
exactly those). An argument left out takes Keras's own default, which ``Arg.default`` repeats so
the API can work out shapes without Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from service.core.strict_fields import StrictBoolean, StrictInteger, StrictNumber
from service.core.vocabulary import ACTIVATIONS, INITIALIZERS

LAYER_ACTIVATIONS = ("linear", *ACTIVATIONS, "softmax", "softplus", "hard_sigmoid", "mish")
MAX_WIDTH = 65_536
MAX_WINDOW = 64


@dataclass(frozen=True)
class Arg:
    """One argument: ``kind`` is "int", "float", "choice", "bool", "window" (an int, or one int
    per spatial axis) or "shape" (a list of positive ints, at most one -1)."""

    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False
    default: Any = None

    def field(self, rank: int) -> fields.Field:
        """The marshmallow field that checks a literal value of this argument."""
        bounds = validate.Range(min=self.low, max=self.high)
        required = self.required
        if self.kind == "int":
            return StrictInteger(validate=bounds, required=required)
        if self.kind == "float":
            return StrictNumber(validate=bounds, required=required)
        if self.kind == "choice":
            return fields.String(validate=validate.OneOf(self.choices), required=required)
        if self.kind == "bool":
            return StrictBoolean(required=required)
        if self.kind == "window":
            return Window(rank, self.low or 1, self.high or MAX_WINDOW, required=required)
        if self.kind == "layer":  # a wrapped layer, parsed as a layer of its own
            return fields.Raw(required=required)
        return fields.List(
            StrictInteger(validate=validate.Range(min=-1, max=MAX_WIDTH)),
            validate=validate.Length(min=1, max=4),
            required=required,
        )

    @property
    def slot_kind(self) -> str:
        """The kind of hyperparameter that may fill this argument (a window takes one int)."""
        return "int" if self.kind == "window" else self.kind


class Window(fields.Field):
    """A kernel, pool, stride or dilation size: one int, or a list of one int per axis."""

    def __init__(self, rank: int, low: float, high: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rank, self.low, self.high = rank, int(low), int(high)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and len(value) != self.rank:
            raise ValidationError(f"Give one integer or a list of {self.rank}.")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int):
                raise ValidationError("Not a valid integer (or list of integers).")
            if not self.low <= item <= self.high:
                raise ValidationError(f"Must be between {self.low} and {self.high}.")
        return tuple(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class LayerType:
    """A layer type: its arguments, the spatial rank it works on (0: any), and what it is."""

    args: dict[str, Arg] = field(default_factory=dict)
    rank: int = 0
    kernels: tuple[str, ...] = ()  # the weights L1/L2 penalize, as Keras names the argument
    inputs: tuple[int, int] = (1, 1)  # how many tensors it takes (more: only in a graph)

    def schema(self) -> Schema:
        """A marshmallow schema of this type's literal arguments (unknown ones refused)."""
        return Schema.from_dict({n: a.field(self.rank) for n, a in self.args.items()})()


def _activation(default: str = "linear", required: bool = False) -> Arg:
    return Arg("choice", choices=LAYER_ACTIVATIONS, default=default, required=required)


_BIAS = Arg("bool", default=True)
_INIT = Arg("choice", choices=INITIALIZERS, default="glorot_uniform")
_RATE = Arg("float", low=0.0, high=0.99, required=True)
_FACTOR = Arg("float", low=0.0, high=1.0, required=True)
_FILL = Arg("choice", choices=("reflect", "wrap", "constant", "nearest"), default="reflect")
_MERGES = ("Add", "Multiply", "Average", "Maximum", "Minimum")


def _conv(
    rank: int, *, filters: bool = True, causal: bool = False, depth: bool = False
) -> LayerType:
    args = {
        "kernel_size": Arg("window", low=1, high=MAX_WINDOW, required=True),
        "strides": Arg("window", low=1, high=MAX_WINDOW, default=1),
        "padding": Arg("choice", choices=("valid", "same", *(("causal",) if causal else ())),
                       default="valid"),
        "dilation_rate": Arg("window", low=1, high=MAX_WINDOW, default=1),
        "activation": _activation(),
        "use_bias": _BIAS,
    }  # fmt: skip
    kernels: tuple[str, ...] = ("kernel_regularizer",)
    if filters:
        args = {"filters": Arg("int", low=1, high=MAX_WIDTH // 16, required=True), **args}
    if depth:
        args["depth_multiplier"] = Arg("int", low=1, high=64, default=1)
        kernels = ("depthwise_regularizer",) if not filters else (
            "depthwise_regularizer", "pointwise_regularizer")  # fmt: skip
    else:
        args["kernel_initializer"] = _INIT
    return LayerType(args, rank, kernels)


def _pool(rank: int) -> LayerType:
    return LayerType(
        {
            "pool_size": Arg("window", low=1, high=MAX_WINDOW, default=2),
            "strides": Arg("window", low=1, high=MAX_WINDOW),  # None: the pool size
            "padding": Arg("choice", choices=("valid", "same"), default="valid"),
        },
        rank,
    )


def _recurrent() -> LayerType:
    return LayerType(
        {
            "units": Arg("int", low=1, high=4096, required=True),
            "activation": _activation("tanh"),
            "return_sequences": Arg("bool", default=False),
            "dropout": Arg("float", low=0.0, high=0.99, default=0.0),
            "recurrent_dropout": Arg("float", low=0.0, high=0.99, default=0.0),
        },
        1,
        ("kernel_regularizer", "recurrent_regularizer"),
    )


LAYER_TYPES: dict[str, LayerType] = {
    "Dense": LayerType(
        {"units": Arg("int", low=1, high=MAX_WIDTH, required=True), "activation": _activation(),
         "use_bias": _BIAS, "kernel_initializer": _INIT},
        0, ("kernel_regularizer",),
    ),
    "Conv1D": _conv(1, causal=True),
    "Conv2D": _conv(2),
    "SeparableConv1D": _conv(1, depth=True),  # (Keras refuses causal padding here)
    "SeparableConv2D": _conv(2, depth=True),
    "DepthwiseConv2D": _conv(2, filters=False, depth=True),
    "MaxPooling1D": _pool(1),
    "MaxPooling2D": _pool(2),
    "AveragePooling1D": _pool(1),
    "AveragePooling2D": _pool(2),
    "GlobalAveragePooling1D": LayerType(rank=1),
    "GlobalAveragePooling2D": LayerType(rank=2),
    "GlobalMaxPooling1D": LayerType(rank=1),
    "GlobalMaxPooling2D": LayerType(rank=2),
    "Flatten": LayerType(),
    "Reshape": LayerType({"target_shape": Arg("shape", required=True)}),
    "Dropout": LayerType({"rate": _RATE}),
    "SpatialDropout1D": LayerType({"rate": _RATE}, 1),
    "SpatialDropout2D": LayerType({"rate": _RATE}, 2),
    "GaussianNoise": LayerType({"stddev": Arg("float", low=0.0, high=1.0, required=True)}),
    "BatchNormalization": LayerType(
        {"momentum": Arg("float", low=0.0, high=0.9999, default=0.99),
         "epsilon": Arg("float", low=1e-12, high=1.0, default=1e-3)},
    ),
    "LayerNormalization": LayerType({"epsilon": Arg("float", low=1e-12, high=1.0, default=1e-3)}),
    "Activation": LayerType({"activation": _activation(required=True)}),
    "Rescaling": LayerType(
        {"scale": Arg("float", low=-1e6, high=1e6, required=True),
         "offset": Arg("float", low=-1e6, high=1e6, default=0.0)},
    ),
    "Embedding": LayerType(
        {"input_dim": Arg("int", low=1, high=1_000_000, required=True),
         "output_dim": Arg("int", low=1, high=4096, required=True)},
        0, ("embeddings_regularizer",),
    ),
    "Bidirectional": LayerType(
        {"layer": Arg("layer", required=True),
         "merge_mode": Arg("choice", choices=("concat", "sum", "mul", "ave"), default="concat")},
        1,
    ),
    "SimpleRNN": _recurrent(),
    "LSTM": _recurrent(),
    "GRU": _recurrent(),
    "RandomFlip": LayerType(
        {"mode": Arg("choice", choices=("horizontal", "vertical", "horizontal_and_vertical"),
                     default="horizontal_and_vertical")}, 2,
    ),
    "RandomRotation": LayerType({"factor": _FACTOR, "fill_mode": _FILL}, 2),
    "RandomZoom": LayerType({"height_factor": _FACTOR, "fill_mode": _FILL}, 2),
    "RandomTranslation": LayerType(
        {"height_factor": _FACTOR, "width_factor": _FACTOR, "fill_mode": _FILL}, 2
    ),
    "RandomContrast": LayerType({"factor": _FACTOR}, 2),
    **{name: LayerType(inputs=(2, 8)) for name in _MERGES},
    "Subtract": LayerType(inputs=(2, 2)),
    "Concatenate": LayerType({"axis": Arg("int", low=-4, high=4, default=-1)}, inputs=(2, 8)),
    "MultiHeadAttention": LayerType(
        {"num_heads": Arg("int", low=1, high=64, required=True),
         "key_dim": Arg("int", low=1, high=1024, required=True),
         "value_dim": Arg("int", low=1, high=1024),
         "dropout": Arg("float", low=0.0, high=0.99, default=0.0),
         "use_bias": _BIAS},
        0, ("kernel_regularizer",), inputs=(2, 3),
    ),
}  # fmt: skip
"""Every layer type a declared architecture may use, by its Keras class name."""
RECURRENT = ("SimpleRNN", "LSTM", "GRU")  # what a Bidirectional wraps
