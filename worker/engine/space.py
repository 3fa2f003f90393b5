"""Sampling points from a job's search space, deterministically per trial number.

Random search and the Bayesian search's initial design both draw trial ``n`` from a generator
seeded with ``(seed, n)``, so a rebuilt optimizer proposes the same point for the same trial no
matter which worker asks or how often.
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


def sample_dimension(dim: Dimension, rng: np.random.Generator) -> Any:
    if dim.type == "categorical":
        choices = dim.choices or ()
        return choices[int(rng.integers(len(choices)))]
    assert dim.low is not None and dim.high is not None
    if dim.log:
        value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
    else:
        value = rng.uniform(dim.low, dim.high)
    if dim.type == "int":
        return int(min(dim.high, max(dim.low, round(value))))
    return float(min(dim.high, max(dim.low, value)))


def to_python(value: Any) -> Any:
    """Plain Python scalars (numpy's do not serialise to JSON)."""
    return value.item() if isinstance(value, np.generic) else value
