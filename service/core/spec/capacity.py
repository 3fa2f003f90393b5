"""Counting a model's parameters without Keras, so the API can refuse a space whose largest model
is over the server's cap before any worker builds it.

The counts follow ``worker.engine.models`` layer by layer (a test checks them against Keras's own
``count_params``): dense kernels and biases, batch normalization's four vectors per unit,
"same"-padded convolutions, "same"-padded pooling of size 2, global pooling (no parameters).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from service.core.catalog import CLASSIFICATION
from service.core.spec.types import Dimension, DimensionType
from service.core.vocabulary import configuration

# Names whose effect on the count is not monotone: every value they can take is tried.
_STRUCTURAL = ("n_layers", "conv_blocks", "pooling", "global_pooling", "batch_norm")


def count_params(
    config: Mapping[str, Any],
    family: str,
    input_shape: Sequence[int],
    task: str,
    n_classes: int | None,
) -> int:
    """Trainable and non-trainable parameters of the model ``config`` builds."""
    total = 0
    norm = 4 if config.get("batch_norm") else 0
    if family in ("conv1d", "conv2d"):
        spatial = list(input_shape[:-1])
        channels = input_shape[-1]
        window = config["kernel_size"] ** len(spatial)
        for block in range(1, config["conv_blocks"] + 1):
            filters = config[f"filters_{block}"]
            total += (window * channels + 1) * filters + norm * filters
            channels = filters
            if config["pooling"] != "none":
                spatial = [math.ceil(s / 2) for s in spatial]
        width = channels if config["global_pooling"] != "none" else math.prod(spatial) * channels
    else:
        width = math.prod(input_shape)
    for layer in range(1, config["n_layers"] + 1):
        units = config[f"units_{layer}"]
        total += (width + 1) * units + norm * units
        width = units
    outputs = n_classes if task == CLASSIFICATION and (n_classes or 0) > 2 else 1
    return total + (width + 1) * int(outputs or 1)


def largest_model(
    space: Mapping[str, Dimension],
    fixed: Mapping[str, Any],
    family: str,
    input_shape: Sequence[int],
    task: str,
    n_classes: int | None,
) -> int:
    """The parameter count of the largest model the search space can produce.

    Widths, filters and kernel sizes only add parameters, so they are taken at their largest;
    depth, pooling and batch norm are tried at every value they can take.
    """
    largest = {name: largest_value(dim) for name, dim in space.items()}
    options = [_values(name, space) for name in _STRUCTURAL]
    best = 0
    for combo in itertools.product(*options):
        chosen = {n: v for n, v in zip(_STRUCTURAL, combo, strict=True) if v is not None}
        config = configuration(fixed, {**largest, **chosen}, family, task)
        best = max(best, count_params(config, family, input_shape, task, n_classes))
    return best


def largest_value(dim: Dimension) -> Any:
    """The dimension's largest value (numbers only add parameters)."""
    if dim.type == DimensionType.CATEGORICAL:
        choices = dim.choices or ()
        numbers = [c for c in choices if isinstance(c, int | float)]
        return max(numbers) if numbers and len(numbers) == len(choices) else choices[0]
    return dim.high if dim.type == DimensionType.FLOAT else int(dim.high or 0)


def _values(name: str, space: Mapping[str, Dimension]) -> list[Any]:
    dim = space.get(name)
    if dim is None:
        return [None]
    if dim.type == DimensionType.CATEGORICAL:
        return list(dim.choices or ())
    return list(range(int(dim.low or 0), int(dim.high or 0) + 1))
