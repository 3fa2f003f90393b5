"""The hyperparameters tuneq understands: name, kind, valid range, default, meaning.

A job may search or fix only names listed here. The model builder reads exactly these names, so
a spec cannot smuggle in arbitrary Keras configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "leaky_relu", "swish")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad", "adamw", "nadam")


@dataclass(frozen=True)
class Hyperparameter:
    """One tunable knob.

    ``kind`` is "float", "int", "bool" or "choice"; numeric kinds use ``low``/``high`` as the
    inclusive valid range, "choice" uses ``choices``.
    """

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not valid for this hyperparameter, or None when it is."""
        if self.kind == "choice":
            if value not in (self.choices or ()) or isinstance(value, bool):
                return f"must be one of {list(self.choices or ())}"
            return None
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be a boolean"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number ({self.kind})"
        if self.kind == "int" and not float(value).is_integer():
            return "must be an integer"
        if self.low is not None and value < self.low:
            return f"must be at least {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be at most {self.high:g}"
        return None

    @property
    def numeric(self) -> bool:
        return self.kind in ("float", "int")


def _hp(*args: Any, **kwargs: Any) -> tuple[str, Hyperparameter]:
    hp = Hyperparameter(*args, **kwargs)
    return hp.name, hp


HYPERPARAMETERS: dict[str, Hyperparameter] = dict(
    [
        _hp("n_layers", "int", 2, "Number of hidden dense layers.", low=1, high=8),
        _hp("units", "int", 64, "Units in each hidden layer.", low=1, high=2048),
        _hp(
            "activation", "choice", "relu", "Activation of the hidden layers.", choices=ACTIVATIONS
        ),
        _hp("dropout", "float", 0.0, "Dropout rate after each hidden layer.", low=0.0, high=0.9),
        _hp("l1", "float", 0.0, "L1 penalty on hidden-layer kernels.", low=0.0, high=1.0),
        _hp("l2", "float", 0.0, "L2 penalty on hidden-layer kernels.", low=0.0, high=1.0),
        _hp("optimizer", "choice", "adam", "Optimizer.", choices=OPTIMIZERS),
        _hp("learning_rate", "float", 1e-3, "Initial learning rate.", low=1e-7, high=10.0),
        _hp("momentum", "float", 0.0, "Momentum (sgd, rmsprop).", low=0.0, high=0.999),
        _hp("batch_size", "int", 32, "Mini-batch size.", low=1, high=8192),
    ]
)


def defaults() -> dict[str, Any]:
    """Every hyperparameter's default value."""
    return {name: hp.default for name, hp in HYPERPARAMETERS.items()}


def configuration(fixed: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The full set of hyperparameters a trial trains with: defaults, then fixed, then searched."""
    return {**defaults(), **fixed, **params}
