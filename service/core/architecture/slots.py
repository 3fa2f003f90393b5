"""A declared model's slots as hyperparameters: the job's own vocabulary.

Each slot becomes a ``Hyperparameter`` whose kind and range are what every argument it fills
accepts (a slot filling both ``Dense.units`` and ``Conv2D.filters`` takes integers valid for
both). A slot inside a repeat also yields ``NAME_1`` … ``NAME_k``, each active while the repeat
count reaches it and falling back to ``NAME``, exactly as the built-in ``units_i`` do, so the
search, the conditions and the reports treat both alike. The job's vocabulary is the training
knobs of ``service.core.vocabulary`` (optimizer, schedule, L1/L2, batch size...) plus these.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.core.architecture.allowlist import LAYER_TYPES, Arg
from service.core.architecture.declared import MAX_REPEAT, Architecture, Repeat, Slot
from service.core.vocabulary import Condition, Hyperparameter, Vocabulary, training_knobs

_COUNT = Arg("int", low=0, high=MAX_REPEAT)
GROUP = "declared model"


@dataclass(frozen=True)
class Use:
    """Where a slot fills an argument: the path, what the argument takes, and the repeat whose
    index picks ``NAME_i`` (None for a shared use)."""

    path: str
    arg: Arg
    repeat: Repeat | None
    within: Repeat | None = None  # the innermost repeat it sits in, per repeat or not


def uses(architecture: Architecture) -> dict[str, list[Use]]:
    """Every slot's uses, in declaration order."""
    found: dict[str, list[Use]] = {}
    for entry, within in architecture.walk():
        if isinstance(entry, Repeat):
            if isinstance(entry.count, Slot):
                found.setdefault(entry.count.name, []).append(
                    Use(f"{entry.path}.repeat", _COUNT, None, within[-1] if within else None)
                )
            continue
        for name, value in entry.args:
            if isinstance(value, Slot):
                repeat = within[-1] if value.per_repeat and within else None
                arg = LAYER_TYPES[entry.type].args[name]
                use = Use(f"{entry.path}.{name}", arg, repeat, within[-1] if within else None)
                found.setdefault(value.name, []).append(use)
    return found


@functools.lru_cache(maxsize=64)
def vocabulary(architecture: Architecture) -> tuple[Vocabulary, tuple[tuple[str, str], ...]]:
    """The job's vocabulary for ``architecture``, and each slot problem as (path, message)."""
    knobs = training_knobs()
    hps: dict[str, Hyperparameter] = dict(knobs)
    problems: list[tuple[str, str]] = []
    per_repeat_in: dict[str, Repeat] = {}
    for name, found in uses(architecture).items():
        if name in knobs:
            problems.append((found[0].path, f"'{name}' is a training hyperparameter of every "
                             "model; give the slot another name."))  # fmt: skip
            continue
        merged = _merge(name, found)
        if isinstance(merged, tuple):
            problems.append(merged)
            continue
        hps[name] = merged
        for use in found:
            if use.repeat is None:
                continue
            seen = per_repeat_in.setdefault(name, use.repeat)
            if seen is not use.repeat:
                problems.append((use.path, f"Slot '{name}' is per repeat in {seen.path} already; "
                                 "use another name, or \"per_repeat\": false."))  # fmt: skip
    for name, repeat in per_repeat_in.items():
        hps.update(_per_repeat(hps[name], repeat))
    return hps, tuple(problems)


def _merge(name: str, found: list[Use]) -> Hyperparameter | tuple[str, str]:
    """One hyperparameter that fits every use, or the first use that conflicts (path, why)."""
    first = found[0]
    kind, low, high = first.arg.slot_kind, first.arg.low, first.arg.high
    choices = tuple(first.arg.choices)
    for use in found[1:]:
        other = use.arg.slot_kind
        if {kind, other} <= {"int", "float"}:
            kind = "int" if "int" in (kind, other) else "float"
            low = _bound(max, low, use.arg.low)
            high = _bound(min, high, use.arg.high)
        elif kind != other:
            return (
                use.path,
                f"Slot '{name}' fills a {kind} argument at {first.path}; this one takes a {other}.",
            )
        elif kind == "choice":
            choices = tuple(c for c in choices if c in use.arg.choices)
        if (low is not None and high is not None and low > high) or (
            kind == "choice" and not choices
        ):
            return use.path, f"No value of slot '{name}' fits both this argument and {first.path}."
    return Hyperparameter(
        name, kind, None, f"Slot of the declared model ({first.path}).", GROUP,
        low=low, high=high, choices=choices or None,
        when=_count_condition(found),
    )  # fmt: skip


def _bound(pick: Any, a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def _count_condition(found: list[Use]) -> Condition | None:
    """A slot used only inside one repeat with a searched count is active while it is >= 1
    (shared between the repeats or not)."""
    repeats = {id(u.within): u.within for u in found}
    repeat = next(iter(repeats.values())) if len(repeats) == 1 else None
    if repeat is not None and isinstance(repeat.count, Slot):
        return Condition(repeat.count.name, at_least=1)
    return None


def _per_repeat(shared: Hyperparameter, repeat: Repeat) -> dict[str, Hyperparameter]:
    count = repeat.count
    top = count if isinstance(count, int) else MAX_REPEAT
    return {
        f"{shared.name}_{i}": Hyperparameter(
            f"{shared.name}_{i}",
            shared.kind,
            None,
            f"Slot '{shared.name}' in repeat {i} of {repeat.path}; defaults to `{shared.name}`.",
            GROUP,
            low=shared.low,
            high=shared.high,
            choices=shared.choices,
            when=Condition(count.name, at_least=i) if isinstance(count, Slot) else None,
            fallback=shared.name,
        )
        for i in range(1, top + 1)
    }


def unfilled(
    architecture: Architecture, values: Mapping[str, Any], largest_count: Mapping[str, int]
) -> list[tuple[str, str]]:
    """Slots no configuration can fill: (path, message) for the first use of each. ``values``:
    the names searched or fixed; ``largest_count``: the largest value each count slot can take."""
    problems = []
    for name, found in uses(architecture).items():
        if name in values:
            continue
        for use in found:
            repeat = use.repeat
            if repeat is not None:
                top = (
                    repeat.count
                    if isinstance(repeat.count, int)
                    else largest_count.get(repeat.count.name, 0)
                )
                if all(f"{name}_{i}" in values for i in range(1, top + 1)):
                    continue
            problems.append((use.path, f"Slot '{name}' has no value: search it in search_space "
                             "or set it in fixed."))  # fmt: skip
            break
    return problems
