"""Sampling points from a job's search space, deterministically per trial number.

Random search and the Bayesian search's initial design both draw trial ``n`` from a generator
seeded with ``(seed, n)``, so a rebuilt optimizer proposes the same point for the same trial no
matter which worker asks or how often. The design a job gets by default starts with the middle
of the space instead (``center_point``): users centre their ranges on what they expect to
work, and ``bench/search_suite.py`` and ``bench/efficiency.py`` measured the gain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from service.core.spec import Dimension


def sample_point(space: Mapping[str, Dimension], seed: int, number: int) -> dict[str, Any]:
    """Draw trial ``number``'s point: uniform, or log-uniform where ``log`` is set."""
    rng = np.random.default_rng([seed, number])
    return {name: sample_dimension(dim, rng) for name, dim in sorted(space.items())}


def center_point(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The middle of the space: each range's midpoint (geometric where ``log``), the middle of
    numeric choices, the first of other choices (listed first, usually the usual one)."""
    return {name: center_value(dim) for name, dim in sorted(space.items())}


def center_value(dim: Dimension) -> Any:
    """One dimension's middle (see ``center_point``), clamped into its range as a draw is."""
    if dim.type == "categorical":
        choices = list(dim.choices or ())
        numeric = all(isinstance(c, int | float) and not isinstance(c, bool) for c in choices)
        return sorted(choices)[(len(choices) - 1) // 2] if numeric else choices[0]
    assert dim.low is not None and dim.high is not None
    if dim.log:
        value = math.exp((math.log(dim.low) + math.log(dim.high)) / 2)
    else:
        value = (dim.low + dim.high) / 2
    return _clamped(dim, value)


def sample_dimension(dim: Dimension, rng: np.random.Generator) -> Any:
    if dim.type == "categorical":
        choices = dim.choices or ()
        return choices[int(rng.integers(len(choices)))]
    assert dim.low is not None and dim.high is not None
    if dim.log:
        value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
    else:
        value = rng.uniform(dim.low, dim.high)
    return _clamped(dim, value)


def _clamped(dim: Dimension, value: float) -> Any:
    """``value`` inside the dimension's range, rounded for an int one."""
    assert dim.low is not None and dim.high is not None
    if dim.type == "int":
        return int(min(dim.high, max(dim.low, round(value))))
    return float(min(dim.high, max(dim.low, value)))


def to_python(value: Any) -> Any:
    """Plain Python scalars (numpy's do not serialise to JSON)."""
    return value.item() if isinstance(value, np.generic) else value
