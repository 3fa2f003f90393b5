"""What a trained model costs to serve: its parameters, and the median time to predict one row.

Measured after every trial so that any job can read them, and a job with several objectives can
trade accuracy against them (``training.objectives``). The latency is the worker's: one row at a
time through an inference-mode call (the path ``worker.engine.evaluation`` takes, no graph to
trace), after one warm-up call, the median of ``REPEATS``: comparable between the trials of one
job on one kind of node, not a promise about another. It costs about ``REPEATS`` small calls a
trial (a few ms against the seconds of training); a model that cannot be timed has no
``inference_ms`` rather than a failed trial.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

import keras
from keras import ops

log = logging.getLogger(__name__)

REPEATS = 9


def model_cost(model: keras.Model, x: Any) -> dict[str, float]:
    """``param_count`` and ``inference_ms`` (median batch-of-1 latency) of ``model``, with a
    row of ``x`` (an array, or the dict of arrays a table model takes)."""
    cost = {"param_count": float(model.count_params())}
    try:
        row = keras.tree.map_structure(lambda column: column[:1], x)
        ops.convert_to_numpy(model(row, training=False))  # warm-up: the first call builds
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            ops.convert_to_numpy(model(row, training=False))
            times.append(time.perf_counter() - start)
    except Exception as exc:  # timing is a by-product: it must not fail the trial
        log.warning("could not time the model on one row: %s", exc)
        return cost
    return {**cost, "inference_ms": statistics.median(times) * 1000.0}
