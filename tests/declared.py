"""Declared models the tests share: a small convnet over digits images with every kind of slot
(shared, per repeat, a repeat count, categorical)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

CONVNET_LAYERS: list[dict[str, Any]] = [
    {"type": "Conv2D", "filters": {"hp": "filters"}, "kernel_size": 3, "padding": "same",
     "activation": {"hp": "activation"}},
    {"repeat": {"hp": "blocks"}, "layers": [
        {"type": "Conv2D", "filters": {"hp": "filters"}, "kernel_size": 3, "padding": "same",
         "activation": "relu"},
        {"type": "BatchNormalization"},
    ]},
    {"type": "GlobalAveragePooling2D"},
    {"type": "Dropout", "rate": {"hp": "dropout"}},
    {"type": "Dense", "units": {"hp": "units", "per_repeat": False}, "activation": "relu"},
]  # fmt: skip


def convnet_spec(trials: int = 3, epochs: int = 3) -> dict[str, Any]:
    return {
        "dataset": {"builtin": "digits"},
        "model": {"layers": copy.deepcopy(CONVNET_LAYERS)},
        "search_space": {
            "filters": {"type": "int", "low": 8, "high": 16},  # (the cap test widens it)
            "blocks": {"type": "int", "low": 0, "high": 2},
            "filters_2": {"type": "int", "low": 8, "high": 24},
            "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
            "dropout": {"type": "float", "low": 0.0, "high": 0.3},
            "units": {"type": "int", "low": 16, "high": 32},
            "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        },
        "fixed": {},
        "training": {"max_epochs": epochs},
        "search": {"strategy": "random", "max_trials": trials, "seed": 0},
    }


def residual_spec(trials: int = 2, epochs: int = 3) -> dict[str, Any]:
    """The shipped residual example, smaller: a skip over two convolutions (``Add``)."""
    spec = json.loads(Path("service/specs/digits-residual.json").read_text())
    spec["training"]["max_epochs"] = epochs
    spec["search"] = {"strategy": "random", "max_trials": trials, "seed": 1}
    spec["search_space"]["filters"] = {"type": "int", "low": 8, "high": 16}
    return spec
