"""The synthetic model family: a configuration's score from a fixed formula, with a sleep.

It stands in for training where scheduling, fault handling and search efficiency are measured
apart from Keras: trials take a controlled time, report per-epoch curves (so pruning and
cancellation have something to act on), and can be told to crash or hang their process.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

from service.core.spec import JobSpec
from worker.engine.results import EpochHook, FitResult, StopCheck

_GOOD_ACTIVATIONS = ("relu", "elu", "gelu", "swish", "selu", "leaky_relu")


def synthetic_score(config: Mapping[str, Any]) -> float:
    """A smooth, multi-dimensional stand-in for validation accuracy, in [0.05, 0.99].

    Best near learning rate 3e-3, 128 units, 2 layers, dropout 0.15, small L2.
    """
    score = 0.97
    score -= 0.08 * (math.log10(float(config["learning_rate"])) + 2.5) ** 2
    score -= 0.005 * (math.log2(float(config.get("units", 64))) - 7) ** 2  # none at 0 layers
    score -= 0.01 * (int(config["n_layers"]) - 2) ** 2
    score -= 0.3 * (float(config["dropout"]) - 0.15) ** 2
    score -= 2.0 * float(config["l2"]) + 5.0 * float(config["l1"])
    score -= 0.0 if config["activation"] in _GOOD_ACTIVATIONS else 0.03
    score -= 0.002 * abs(math.log2(float(config["batch_size"])) - 5)
    return max(0.05, min(0.99, score))


def _curve(final: float, epoch: int, epochs: int) -> float:
    """Accuracy after ``epoch`` of ``epochs``: rises towards ``final``."""
    return final * (1.0 - 0.6 * math.exp(-4.0 * epoch / max(epochs, 1)))


def run_synthetic(
    spec: JobSpec,
    config: Mapping[str, Any],
    number: int,
    *,
    on_epoch: EpochHook | None = None,
    stop_check: StopCheck | None = None,
) -> FitResult:
    epochs = spec.training.max_epochs
    final = synthetic_score(config)
    pause = spec.model.sleep_s / epochs
    history: dict[str, list[float]] = {}
    for epoch in range(1, epochs + 1):
        if number in spec.model.crash_trials:
            os.kill(os.getpid(), signal.SIGKILL)
        while number in spec.model.hang_trials:
            time.sleep(0.05)
        _sleep(pause, stop_check)
        val = _curve(final, epoch, epochs)
        row = {
            "accuracy": min(1.0, val + 0.01),
            "loss": -math.log(min(1.0, val + 0.01)),
            "val_accuracy": val,
            "val_loss": -math.log(val),
        }
        for name, value in row.items():
            history.setdefault(name, []).append(value)
        if on_epoch is not None and not on_epoch(epoch, history):
            break
        if stop_check is not None and stop_check():
            break
    done = len(history.get("val_accuracy", []))
    metrics = {name: values[-1] for name, values in history.items()} | synthetic_cost(config)
    return FitResult(metrics, history, done, done or None, diverged=False)


def synthetic_cost(config: Mapping[str, Any]) -> dict[str, float]:
    """What an MLP of this shape on 64 inputs and 10 classes would cost, for the objectives
    that trade accuracy against size: its parameters, and a latency that grows with them."""
    units, layers = int(config.get("units", 64)), int(config["n_layers"])
    widths = [64] + [units] * layers + [10]
    params = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    return {"param_count": float(params), "inference_ms": 0.2 + params / 20_000}


def _sleep(seconds: float, stop_check: StopCheck | None) -> None:
    """Sleep in small steps (the "batches" of a synthetic epoch), stopping when told to."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if stop_check is not None and stop_check():
            return
        time.sleep(min(left, 0.02))


def synthetic_test_scores(config: Mapping[str, Any]) -> dict[str, float]:
    score = synthetic_score(config) - 0.005
    return {"test_accuracy": score, "test_loss": -math.log(score)}
