"""What training a configuration produces, whatever trained it (Keras or the synthetic family)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

EpochHook = Callable[[int, dict[str, list[float]]], bool]
"""Called after each epoch with the epoch count and history so far; False stops training."""

StopCheck = Callable[[], bool]
"""Polled after each batch; True stops training there (cancel, time limit, shutdown)."""


@dataclass(frozen=True)
class FitResult:
    metrics: dict[str, float]
    history: dict[str, list[float]]
    epochs: int
    best_epoch: int | None
    diverged: bool
    details: dict[str, Any] = field(default_factory=dict)
    # Early stopping restored its best epoch's weights (in every fold): the kept model is not
    # the one at the end of the curve.
    restored_best: bool = False
    # Classification: the training error of always answering the majority class.
    chance_error: float | None = None
