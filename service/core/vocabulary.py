"""The hyperparameters tuneq understands: name, kind, valid range, default, meaning, and when each
one is active.

A job may search or fix only names listed here. The model builder reads exactly these names, so
a spec cannot smuggle in arbitrary Keras configuration. Some names only mean something under
others (``momentum`` under ``optimizer: sgd``, ``units_3`` when ``n_layers`` reaches 3, the conv
knobs in a conv family); a configuration leaves them out when they are inactive, so trials never
report values that did not take effect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "leaky_relu", "swish")
OPTIMIZERS = ("adam", "sgd", "rmsprop", "adagrad", "adamw", "nadam")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
)
SCHEDULES = ("constant", "exponential", "step", "cosine", "reduce_on_plateau")
POOLINGS = ("max", "average", "none")
GLOBAL_POOLINGS = ("none", "average", "max")
REGRESSION_LOSSES = ("mse", "mae", "huber")
CONV_FAMILIES = ("conv1d", "conv2d")
ENCODINGS = ("one_hot", "embedding")
CLASS_WEIGHTS = ("none", "balanced")
MAX_LAYERS = 8
MAX_CONV_BLOCKS = 6
DECLARED = "declared"  # the family of a model declared as layers (``service.core.architecture``)
PLUGIN = "plugin"  # a family from the operator (``service.core.families``)


@dataclass(frozen=True)
class Condition:
    """``name`` is active only when ``parent`` is one of ``values`` or at least ``at_least``."""

    parent: str
    values: tuple[Any, ...] = ()
    at_least: int | None = None

    def holds(self, value: Any) -> bool:
        if self.at_least is not None:
            return isinstance(value, int | float) and value >= self.at_least
        return value in self.values

    def describe(self) -> str:
        if self.at_least is not None:
            return f"{self.parent} >= {self.at_least}"
        return f"{self.parent} in {list(self.values)}"


@dataclass(frozen=True)
class Hyperparameter:
    """One tunable knob.

    ``kind`` is "float", "int", "bool" or "choice"; numeric kinds use ``low``/``high`` as the
    inclusive valid range, "choice" uses ``choices``. ``default`` None means "falls back to
    ``fallback``" (a per-layer width defaults to ``units``). ``families`` / ``tasks`` restrict
    where the name may be used at all; ``when`` says when it is active within those.
    """

    name: str
    kind: str
    default: Any
    doc: str
    group: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    when: Condition | None = None
    families: tuple[str, ...] | None = None
    tasks: tuple[str, ...] | None = None
    fallback: str | None = None
    tables: bool = False  # only for tables read column by column (string, empty cells...)
    builtin: bool = False  # shapes a built-in family; a declared model has its own slots

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
        if (isinstance(value, int) and abs(value) > 2**53) or value != value:  # huge, or NaN
            return "is out of range"
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

    def applies_to(self, family: str, task: str, tabular: bool = False) -> bool:
        """Whether the name means anything for this model family and task (and dataset)."""
        return (
            (self.families is None or family in self.families)
            and (self.tasks is None or task in self.tasks)
            and (tabular or not self.tables)
            and not (self.builtin and family in (DECLARED, PLUGIN))
        )


def _hp(*args: Any, **kwargs: Any) -> tuple[str, Hyperparameter]:
    hp = Hyperparameter(*args, **kwargs)
    return hp.name, hp


def _per_layer(prefix: str, parent: str, count: int, **kwargs: Any) -> list:
    return [
        _hp(
            f"{prefix}_{i}",
            kwargs["kind"],
            None,
            f"{kwargs['what']} {i}; defaults to `{prefix}`. Active when {parent} >= {i}.",
            kwargs["group"],
            low=kwargs["low"],
            high=kwargs["high"],
            when=Condition(parent, at_least=i),
            families=kwargs.get("families"),
            fallback=prefix,
            builtin=kwargs.get("families") is None,  # filters_i are conv-only already
        )
        for i in range(1, count + 1)
    ]


_ARCH, _REG, _OPT, _SCHED, _CONV = "architecture", "regularization", "optimizer", "schedule", "conv"
_TABLE = "tables"
_SGD = Condition("optimizer", ("sgd",))

HYPERPARAMETERS: dict[str, Hyperparameter] = dict(
    [
        _hp("n_layers", "int", 2, "Hidden dense layers (the head, in conv families).", _ARCH,
            low=0, high=MAX_LAYERS, builtin=True),
        _hp("units", "int", 64, "Units in each hidden dense layer.", _ARCH, low=1, high=2048,
            when=Condition("n_layers", at_least=1), builtin=True),
        *_per_layer("units", "n_layers", MAX_LAYERS, kind="int", what="Units in dense layer",
                    group=_ARCH, low=1, high=2048),
        _hp("activation", "choice", "relu", "Activation of the hidden layers.", _ARCH,
            choices=ACTIVATIONS, builtin=True),
        _hp("kernel_initializer", "choice", "glorot_uniform", "Initializer of hidden kernels.",
            _ARCH, choices=INITIALIZERS, builtin=True),
        _hp("conv_blocks", "int", 3, "Convolution blocks before the dense head.", _CONV,
            low=1, high=MAX_CONV_BLOCKS, families=CONV_FAMILIES),
        _hp("filters", "int", 32, "Filters in each convolution block.", _CONV, low=1, high=1024,
            families=CONV_FAMILIES),
        *_per_layer("filters", "conv_blocks", MAX_CONV_BLOCKS, kind="int",
                    what="Filters in convolution block", group=_CONV, low=1, high=1024,
                    families=CONV_FAMILIES),
        _hp("kernel_size", "int", 3, "Convolution window (square in conv2d).", _CONV, low=1,
            high=15, families=CONV_FAMILIES),
        _hp("pooling", "choice", "max", "Pooling (size 2) after each block.", _CONV,
            choices=POOLINGS, families=CONV_FAMILIES),
        _hp("global_pooling", "choice", "average", "Pooling over all positions after the last "
            "block, instead of flattening them (`none` flattens).", _CONV,
            choices=GLOBAL_POOLINGS, families=CONV_FAMILIES),
        _hp("dropout", "float", 0.0, "Dropout rate after each hidden layer (and after the "
            "convolution blocks, in conv families).", _REG, low=0.0, high=0.9, builtin=True),
        _hp("l1", "float", 0.0, "L1 penalty on hidden kernels.", _REG, low=0.0, high=1.0),
        _hp("l2", "float", 0.0, "L2 penalty on hidden kernels.", _REG, low=0.0, high=1.0),
        _hp("batch_norm", "bool", False, "Batch normalization before each hidden activation.",
            _REG, builtin=True),
        _hp("optimizer", "choice", "adam", "Optimizer.", _OPT, choices=OPTIMIZERS),
        _hp("learning_rate", "float", 1e-3, "Initial (peak, with warmup) learning rate.", _OPT,
            low=1e-7, high=10.0),
        _hp("momentum", "float", 0.0, "Momentum.", _OPT, low=0.0, high=0.999,
            when=Condition("optimizer", ("sgd", "rmsprop"))),
        _hp("nesterov", "bool", False, "Nesterov momentum.", _OPT, when=_SGD),
        _hp("weight_decay", "float", 0.004, "Decoupled weight decay.", _OPT, low=0.0, high=1.0,
            when=Condition("optimizer", ("adamw",))),
        _hp("clipnorm", "float", 0.0, "Clip each gradient to this norm (0: off).", _OPT,
            low=0.0, high=1000.0),
        _hp("batch_size", "int", 32, "Mini-batch size.", _OPT, low=1, high=8192),
        _hp("lr_schedule", "choice", "constant", "Learning-rate schedule after warmup.", _SCHED,
            choices=SCHEDULES),
        _hp("decay_rate", "float", 0.96, "Exponential: factor per decay_steps.", _SCHED,
            low=0.01, high=1.0, when=Condition("lr_schedule", ("exponential",))),
        _hp("decay_steps", "int", 100, "Exponential: optimizer steps per decay_rate.", _SCHED,
            low=1, high=1_000_000, when=Condition("lr_schedule", ("exponential",))),
        _hp("staircase", "bool", False, "Exponential: decay in whole steps.", _SCHED,
            when=Condition("lr_schedule", ("exponential",))),
        _hp("drop", "float", 0.5, "Step: factor applied every step_epochs.", _SCHED, low=0.01,
            high=1.0, when=Condition("lr_schedule", ("step",))),
        _hp("step_epochs", "int", 10, "Step: epochs between drops.", _SCHED, low=1, high=1000,
            when=Condition("lr_schedule", ("step",))),
        _hp("plateau_factor", "float", 0.1, "Reduce-on-plateau: factor on a plateau.", _SCHED,
            low=0.01, high=0.99, when=Condition("lr_schedule", ("reduce_on_plateau",))),
        _hp("plateau_patience", "int", 3, "Reduce-on-plateau: epochs without improvement.",
            _SCHED, low=0, high=100, when=Condition("lr_schedule", ("reduce_on_plateau",))),
        _hp("warmup_epochs", "int", 0, "Linear warmup from 0 to learning_rate (any schedule).",
            _SCHED, low=0, high=100),
        _hp("loss", "choice", "mse", "Regression loss.", _OPT, choices=REGRESSION_LOSSES,
            tasks=("regression",)),
        _hp("class_weight", "choice", "none", "`balanced` weighs each class inversely to its "
            "share of the training rows.", _OPT, choices=CLASS_WEIGHTS,
            tasks=("classification",)),
        _hp("categorical_encoding", "choice", "one_hot", "How categorical and boolean columns "
            "enter the model: one-hot, or an index into a learned embedding.", _TABLE,
            choices=ENCODINGS, tables=True),
        _hp("embedding_dim", "int", 8, "Width of each categorical column's embedding.", _TABLE,
            low=1, high=256, when=Condition("categorical_encoding", ("embedding",)),
            tables=True),
    ]
)  # fmt: skip


Vocabulary = Mapping[str, Hyperparameter]
"""The names a job may search or fix: ``HYPERPARAMETERS``, or for a declared model the training
knobs and its own slots (``service.core.architecture.slots``)."""


def training_knobs() -> dict[str, Hyperparameter]:
    """The names that apply to any model, however it is shaped (optimizer, schedule, L1/L2,
    batch size...): a declared model's and an operator family's vocabulary start from these."""
    return {n: hp for n, hp in HYPERPARAMETERS.items() if not hp.builtin and hp.families is None}


_DEFAULTS = {name: hp.default for name, hp in HYPERPARAMETERS.items()}

FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "conv1d": {"n_layers": 0, "kernel_size": 5},
    "conv2d": {"n_layers": 0, "filters": 64},
}
"""Where a family's defaults differ from the table's. The conv families default to blocks with
max pooling after each (so the receptive field spans the input) and global average pooling
straight into the output (Lin et al. 2013's head: which patterns fired, not where), chosen by
``bench/conv_defaults.py`` over digits images and generated signal and order sequences; the
README has the table."""


DEFAULTS_VERSION = 2
"""Bumped whenever a default changes (``EARLIER_DEFAULTS`` keeps what each earlier version
differed in). A job keeps the version it was submitted under (``JobSpec.defaults_version``), so
the configuration its trials train, the API shows and warm starts compare stays the one it was
created with, across a deploy that changes a default."""
EARLIER_DEFAULTS: dict[int, dict[str, dict[str, Any]]] = {
    1: {  # the first conv defaults: two blocks of 3-wide kernels, flattened into two dense layers
        family: {"conv_blocks": 2, "kernel_size": 3, "filters": 32, "global_pooling": "none",
                 "n_layers": 2}
        for family in CONV_FAMILIES
    },
}  # fmt: skip


def earlier_defaults(family: str, version: int) -> dict[str, Any]:
    """Where ``version``'s defaults for ``family`` differ from the current ones ({} for the
    current version)."""
    return dict(EARLIER_DEFAULTS.get(version, {}).get(family, {}))


def defaults(family: str = "mlp") -> dict[str, Any]:
    """Every hyperparameter's default value for ``family`` (None where it falls back to another
    name)."""
    return {**_DEFAULTS, **FAMILY_DEFAULTS.get(family, {})}


def is_active(
    name: str,
    config: Mapping[str, Any],
    family: str,
    task: str,
    tabular: bool = False,
    hps: Vocabulary = HYPERPARAMETERS,
) -> bool:
    """Whether ``name`` takes effect in ``config`` (its own conditions and its parent's).
    ``hps``: the job's vocabulary (a declared model's slots are in it)."""
    hp = hps[name]
    if not hp.applies_to(family, task, tabular):
        return False
    if hp.when is None:
        return True
    parent = hp.when.parent
    return is_active(parent, config, family, task, tabular, hps) and hp.when.holds(
        config.get(parent)
    )


def configuration(
    fixed: Mapping[str, Any],
    params: Mapping[str, Any],
    family: str = "mlp",
    task: str = "classification",
    tabular: bool = False,
    hps: Vocabulary = HYPERPARAMETERS,
) -> dict[str, Any]:
    """The hyperparameters a trial trains with: defaults, then fixed, then searched, keeping
    only the active ones, with fallbacks (``units_3`` from ``units``) resolved. ``tabular``:
    the dataset is a table read column by column (its encoding knobs apply)."""
    merged = {**defaults(family), **fixed, **params}
    config: dict[str, Any] = {}
    for name, hp in hps.items():
        if not is_active(name, merged, family, task, tabular, hps):
            continue
        value = merged.get(name)
        config[name] = merged.get(hp.fallback) if value is None and hp.fallback else value
    return config


def active_params(
    fixed: Mapping[str, Any],
    params: Mapping[str, Any],
    family: str,
    task: str,
    hps: Vocabulary = HYPERPARAMETERS,
) -> dict[str, Any]:
    """``params`` without the names that are inactive under the rest of the configuration.
    (A table's knobs count as active: a spec may only search them on a table.)"""
    merged = {**defaults(family), **fixed, **params}
    return {
        k: v
        for k, v in params.items()
        if k not in hps or is_active(k, merged, family, task, True, hps)
    }


def origin(
    name: str,
    params: Mapping[str, Any],
    fixed: Mapping[str, Any],
    hps: Vocabulary = HYPERPARAMETERS,
) -> str:
    """Where a configuration value came from: ``searched``, ``fixed`` or ``default``; a
    per-layer width that fell back to a searched or fixed ``units`` (``filters``) says so."""
    if name in params:
        return "searched"
    if name in fixed:
        return "fixed"
    hp = hps.get(name)
    # a name outside ``hps`` (a declared model's ``filters_2``, seen from a client) falls back
    # to its prefix, as every per-layer or per-repeat name does
    per_item = re.fullmatch(r"(.+)_\d+", name)
    fallback = hp.fallback if hp is not None else (per_item.group(1) if per_item else None)
    if fallback in params:
        return f"searched, as {fallback}"
    if fallback in fixed:
        return f"fixed, as {fallback}"
    return "default"
