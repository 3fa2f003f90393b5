"""A model family an operator might install (the tests put this folder on a worker's path):
a stack of ``depth`` dense layers of ``width`` units with a chosen activation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras


class TinyFamily:
    name = "tiny_stack"
    doc = "Dense layers of one width, as deep as asked."
    tasks = ("classification", "regression")
    hyperparameters = [
        {"name": "depth", "kind": "int", "low": 1, "high": 4, "default": 1,
         "doc": "Dense layers."},
        {"name": "width", "kind": "int", "low": 4, "high": 256, "default": 32,
         "doc": "Units in each."},
        {"name": "squash", "kind": "choice", "choices": ["relu", "tanh"], "default": "relu",
         "doc": "Their activation."},
    ]  # fmt: skip

    @staticmethod
    def build(config: Mapping[str, Any], inputs: Any) -> Any:
        x = keras.layers.Flatten()(inputs)
        for i in range(int(config["depth"])):
            x = keras.layers.Dense(int(config["width"]), activation=config["squash"],
                                   name=f"tiny_{i}")(x)  # fmt: skip
        return x


FAMILY = TinyFamily()


class Broken:
    """Registered too, to show that one broken package does not stop the others."""

    name = "broken_family"
    hyperparameters = [{"name": "x", "kind": "int", "low": 5, "high": 1, "default": 3}]
