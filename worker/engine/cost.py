"""What a trained model costs to serve: its parameters, and the median time to predict one row.

Measured after every trial so that any job can read them, and a job with several objectives can
trade accuracy against them (``training.objectives``). The latency is the worker's, one row at
a time through the compiled predict function, after two warm-up calls (the first traces it):
comparable between the trials of one job on one kind of node, not a promise about another.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import keras

REPEATS = 15


def model_cost(model: keras.Model, x: Any) -> dict[str, float]:
    """``param_count`` and ``inference_ms`` (median batch-of-1 latency) of ``model``, with a
    row of ``x`` (an array, or the dict of arrays a table model takes)."""
    row = keras.tree.map_structure(lambda column: column[:1], x)
    for _ in range(2):
        model.predict_on_batch(row)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        model.predict_on_batch(row)
        times.append(time.perf_counter() - start)
    return {
        "param_count": float(model.count_params()),
        "inference_ms": statistics.median(times) * 1000.0,
    }
