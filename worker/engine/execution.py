"""How many optimizer steps one call into a model's compiled train step runs.

Why: a small model's step (an MLP on a few hundred rows) takes far less time than Keras's
Python work around each call, so running a whole epoch's steps in one call saves a tenth of a
small trial (``bench/trial_cost.py``) with the same numerics. The cost: per-batch callbacks run
once per call, so a stop (cancel, the soft time limit, a node draining) is seen between calls.
Hence several steps only where each step is known to be cheap: layers whose cost grows with
their parameters (no convolution, recurrence or attention, whose cost grows with the input's
length), and at most ``FLOPS_PER_EXECUTION`` of arithmetic a call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

MAX_STEPS_PER_EXECUTION = 64
"""Steps per call at most, however cheap: bounds how late a stop is seen."""

FLOPS_PER_EXECUTION = 2e8
"""Training arithmetic per call at most (about 6 x parameters x batch rows a step): a few
tenths of a second on one CPU core, so a stop is still seen within about a second."""

CHEAP_LAYERS = (
    keras.layers.InputLayer,
    keras.layers.Dense,
    keras.layers.Activation,
    keras.layers.Dropout,
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.Embedding,
    keras.layers.Concatenate,
)
"""Layers whose step cost the parameter count bounds."""


def steps_per_execution(config: Mapping[str, Any], steps: int, model: keras.Model) -> int:
    """Steps per call for ``model`` trained with ``config`` over ``steps`` steps an epoch: 1
    on PyTorch (its Keras trainer takes no other), where reduce-on-plateau's warmup callback
    sets the rate before every step, and for layers whose cost the count does not bound."""
    if keras.backend.backend() == "torch":
        return 1
    if config["lr_schedule"] == "reduce_on_plateau" and int(config["warmup_epochs"]):
        return 1
    if not all(isinstance(layer, CHEAP_LAYERS) for layer in model.layers):
        return 1
    per_step = 6 * max(1, model.count_params()) * int(config["batch_size"])
    return max(1, min(steps, MAX_STEPS_PER_EXECUTION, int(FLOPS_PER_EXECUTION // per_step)))
