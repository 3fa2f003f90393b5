"""Shared fixtures: fixed seeds, and valid specs to derive invalid ones from."""

from __future__ import annotations

import copy
import os
import random
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    random.seed(0)
    np.random.seed(0)


VALID_SPEC: dict[str, Any] = {
    "name": "iris-small",
    "dataset": {"builtin": "iris"},
    "model": {"family": "mlp"},
    "search_space": {
        "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "units": {"type": "int", "low": 4, "high": 32, "log": True},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
        "batch_size": {"type": "categorical", "choices": [16, 32]},
    },
    "fixed": {"n_layers": 1},
    "training": {
        "max_epochs": 8,
        "early_stopping": {"monitor": "val_loss", "patience": 3},
        "validation": {"split": 0.2},
        "objective": {"metric": "val_accuracy", "direction": "max"},
    },
    "search": {"strategy": "bayesian", "max_trials": 5, "initial_points": 3, "seed": 7},
}


@pytest.fixture
def spec() -> dict[str, Any]:
    """A fresh deep copy of a valid spec for a test to change."""
    return copy.deepcopy(VALID_SPEC)
