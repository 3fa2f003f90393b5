"""Grid search axes, in pure Python so the API can size a grid without the worker's libraries.

A categorical dimension's grid is its choices. A numeric one gets ``steps`` evenly spaced values
from ``low`` to ``high`` inclusive (geometrically spaced on a log scale); an integer axis is
rounded and deduplicated, so ``int 1..3`` with 5 steps is ``[1, 2, 3]``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Mapping
from typing import Any

from service.core.architecture import Architecture, vocabulary
from service.core.spec.types import Dimension, DimensionType
from service.core.vocabulary import HYPERPARAMETERS, active_params

MAX_GRID_POINTS = 1_000_000
# Grids with conditional names up to this size are listed to drop the points that only differ
# in inactive names (``units_2`` under ``n_layers: 1``); larger ones are walked as they are.
MAX_LISTED_GRID = 100_000  # about 0.35 s to list at this size


def grid_axis(dim: Dimension, default_steps: int) -> list[Any]:
    """The values one dimension takes in a grid."""
    if dim.type == DimensionType.CATEGORICAL:
        return list(dim.choices or ())
    assert dim.low is not None and dim.high is not None
    steps = dim.steps or default_steps
    if dim.log:
        lo, hi = math.log(dim.low), math.log(dim.high)
        values = [math.exp(lo + (hi - lo) * i / (steps - 1)) for i in range(steps)]
    else:
        values = [dim.low + (dim.high - dim.low) * i / (steps - 1) for i in range(steps)]
    values[0], values[-1] = dim.low, dim.high  # exact ends, whatever the rounding
    if dim.type == DimensionType.INT:
        return list(dict.fromkeys(round(v) for v in values))
    return [float(v) for v in values]


def grid_size(space: Mapping[str, Dimension], default_steps: int) -> int:
    """How many points the full grid has."""
    return math.prod(len(grid_axis(dim, default_steps)) for dim in space.values())


def grid_point(space: Mapping[str, Dimension], default_steps: int, index: int) -> dict[str, Any]:
    """Grid point ``index`` in a fixed order (the last name in sorted order varies fastest)."""
    names = sorted(space)
    axes = [grid_axis(space[name], default_steps) for name in names]
    point: dict[str, Any] = {}
    for name, axis in zip(reversed(names), reversed(axes), strict=True):
        index, position = divmod(index, len(axis))
        point[name] = axis[position]
    return {name: point[name] for name in names}


def distinct_grid(
    space: Mapping[str, Dimension],
    default_steps: int,
    fixed: Mapping[str, Any],
    family: str,
    task: str,
    layers: Architecture | None = None,
) -> list[dict[str, Any]] | None:
    """The grid's distinct points with inactive names left out, in ``grid_point`` order; None
    when the space has no conditional names (every point is distinct) or is too large to list.

    Listed once per process for a given space (the spec loader and every advance ask again)."""
    points = _distinct(
        tuple(sorted(space.items())), default_steps, tuple(sorted(fixed.items())), family, task,
        layers,
    )  # fmt: skip
    return None if points is None else [dict(point) for point in points]


@functools.lru_cache(maxsize=32)
def _distinct(
    space: tuple[tuple[str, Dimension], ...],
    default_steps: int,
    fixed: tuple[tuple[str, Any], ...],
    family: str,
    task: str,
    layers: Architecture | None,
) -> tuple[tuple[tuple[str, Any], ...], ...] | None:
    grid = dict(space)
    hps = HYPERPARAMETERS if layers is None else vocabulary(layers)[0]
    # (a name outside the vocabulary is reported by the rules; it conditions nothing here)
    conditional = any(getattr(hps.get(name), "when", None) is not None for name in grid)
    if not conditional or grid_size(grid, default_steps) > MAX_LISTED_GRID:
        return None
    seen: dict[tuple[tuple[str, Any], ...], None] = {}
    for point in iter_grid(grid, default_steps):
        seen.setdefault(tuple(active_params(dict(fixed), point, family, task, hps).items()))
    return tuple(seen)


def distinct_grid_size(
    space: Mapping[str, Dimension],
    default_steps: int,
    fixed: Mapping[str, Any],
    family: str,
    task: str,
    layers: Architecture | None = None,
) -> int:
    points = distinct_grid(space, default_steps, fixed, family, task, layers)
    return len(points) if points is not None else grid_size(space, default_steps)


def iter_grid(space: Mapping[str, Dimension], default_steps: int) -> Iterator[dict[str, Any]]:
    """Every grid point, in ``grid_point`` order."""
    names = sorted(space)
    for values in itertools.product(*(grid_axis(space[n], default_steps) for n in names)):
        yield dict(zip(names, values, strict=True))
