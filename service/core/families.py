"""Model families from the operator: trusted code installed in the worker image, described as
data so that the API can validate and list them without importing it.

A Python package registers a family under the entry-point group ``tuneq.families``: an object
with ``name``, ``hyperparameters`` (a list of ``{"name", "kind", "default", "doc", "low",
"high", "choices"}``), optional ``tasks`` and ``doc``, and ``build(config, inputs)``, which
returns the body's output tensor for a trial's configuration (tuneq adds the task's head and
compiles, so every training knob still applies). Only the people who run the service install
such packages: a tenant can pick a family, never supply one.

Workers publish what they can serve to the store when they start and with every heartbeat
(``FamilyDefinition.to_json``); the API reads the definitions of live workers, validates a
job's search space against them, lists them at ``GET /v1/families``, and refuses a family that
no live worker offers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from service.core.vocabulary import HYPERPARAMETERS, Hyperparameter, Vocabulary, training_knobs

ENTRY_POINT_GROUP = "tuneq.families"
FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
BUILTIN_NAMES = ("mlp", "conv1d", "conv2d", "declared", "synthetic", "plugin")
HP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
GROUP = "family"
_KINDS = ("int", "float", "choice", "bool")
MAX_FAMILY_HYPERPARAMETERS = 64


@dataclass(frozen=True)
class FamilyDefinition:
    """A plugin family as the API knows it: its name and the hyperparameters it reads."""

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    tasks: tuple[str, ...] = ("classification", "regression")
    doc: str = ""

    @functools.cached_property
    def vocabulary(self) -> Vocabulary:
        """The training knobs every model has, and this family's own hyperparameters."""
        return {**training_knobs(), **{hp.name: hp for hp in self.hyperparameters}}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "tasks": list(self.tasks),
            "hyperparameters": [
                {k: v for k, v in (("name", hp.name), ("kind", hp.kind),
                                   ("default", hp.default), ("doc", hp.doc), ("low", hp.low),
                                   ("high", hp.high),
                                   ("choices", list(hp.choices) if hp.choices else None))
                 if v is not None}
                for hp in self.hyperparameters
            ],
        }  # fmt: skip


FamilyLookup = Callable[[str], FamilyDefinition | None]
"""Finds an operator's family by name among those live workers offer."""


def definition_from(data: Mapping[str, Any]) -> FamilyDefinition:
    """A definition from its data (a plugin's attributes, or what a worker published).

    Raises:
        ValueError: saying what is wrong, for the operator who wrote the plugin.
    """
    name = data.get("name")
    if not isinstance(name, str) or not FAMILY_NAME.match(name):
        raise ValueError(f"family name {name!r}: 2 to 40 lowercase letters, digits, underscores")
    if name in BUILTIN_NAMES:
        raise ValueError(f"family name {name!r} is a built-in one")
    raw = data.get("hyperparameters") or []
    if not isinstance(raw, list | tuple) or len(raw) > MAX_FAMILY_HYPERPARAMETERS:
        raise ValueError(f"{name}: hyperparameters must be a list of at most 64")
    tasks = tuple(data.get("tasks") or ("classification", "regression"))
    if not set(tasks) <= {"classification", "regression"} or not tasks:
        raise ValueError(f"{name}: tasks are classification and/or regression")
    return FamilyDefinition(name, tuple(_hyperparameter(name, hp) for hp in raw), tasks,
                            str(data.get("doc") or "")[:2000])  # fmt: skip


def _hyperparameter(family: str, data: Any) -> Hyperparameter:
    if not isinstance(data, Mapping):
        raise ValueError(f"{family}: each hyperparameter is a mapping")
    name, kind = data.get("name"), data.get("kind")
    if not isinstance(name, str) or not HP_NAME.match(name):
        raise ValueError(f"{family}: hyperparameter name {name!r}")
    if name in HYPERPARAMETERS and not HYPERPARAMETERS[name].builtin:
        raise ValueError(f"{family}: {name!r} is a training hyperparameter of every model")
    if kind not in _KINDS:
        raise ValueError(f"{family}.{name}: kind is one of {_KINDS}")
    choices = data.get("choices")
    hp = Hyperparameter(
        name, kind, data.get("default"), str(data.get("doc") or "")[:500], GROUP,
        low=_number(data.get("low")), high=_number(data.get("high")),
        choices=tuple(choices) if isinstance(choices, list | tuple) else None,
    )  # fmt: skip
    if kind == "choice" and not hp.choices:
        raise ValueError(f"{family}.{name}: a choice needs choices")
    if kind in ("int", "float") and (hp.low is None or hp.high is None or hp.low > hp.high):
        raise ValueError(f"{family}.{name}: a number needs low <= high")
    if (reason := hp.check(hp.default)) is not None:
        raise ValueError(f"{family}.{name}: the default {hp.default!r} {reason}")
    return hp


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
