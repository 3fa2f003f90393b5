"""The README's hyperparameter table, generated from the vocabulary (a test keeps the README
equal to it), so the documentation cannot drift from what the API accepts."""

from __future__ import annotations

from typing import Any

from service.core.vocabulary import (
    FAMILY_DEFAULTS,
    HYPERPARAMETERS,
    MAX_CONV_BLOCKS,
    MAX_LAYERS,
)


def markdown_table() -> str:
    """The README's hyperparameter table (a test keeps the README equal to it)."""
    rows = [
        "| name | meaning | type | default | valid range | applies |",
        "|---|---|---|---|---|---|",
    ]
    for hp in HYPERPARAMETERS.values():
        if hp.fallback and not hp.name.endswith("_1"):
            continue  # units_2.. and filters_2.. read like units_1 / filters_1
        name = f"`{hp.name}`"
        if hp.fallback:
            top = MAX_LAYERS if hp.fallback == "units" else MAX_CONV_BLOCKS
            name = f"`{hp.fallback}_1` … `{hp.fallback}_{top}`"
        if hp.kind == "choice":
            valid = ", ".join(str(c) for c in hp.choices or ())
        elif hp.kind == "bool":
            valid = "true, false"
        else:
            valid = f"{_show(hp.low)} \N{EN DASH} {_show(hp.high)}"
        default = f"`{hp.fallback}`" if hp.fallback else _show(hp.default)
        differs: dict[str, list[str]] = {}
        for family, values in FAMILY_DEFAULTS.items():
            if hp.name in values:
                differs.setdefault(_show(values[hp.name]), []).append(family)
        default += "".join(f" ({', '.join(fs)}: {value})" for value, fs in differs.items())
        where = []
        if hp.families:
            where.append("/".join(hp.families))
        if hp.tasks:
            where.append("/".join(hp.tasks))
        if hp.tables:
            where.append("tables with string or empty cells")
        if hp.builtin:
            where.append("built-in families")
        if hp.when is not None and hp.fallback:
            where.append(f"{hp.when.parent} ≥ i")
        elif hp.when is not None and hp.when.at_least is not None:
            where.append(f"{hp.when.parent} ≥ {hp.when.at_least}")
        elif hp.when is not None:
            where.append(f"{hp.when.parent}: {', '.join(map(str, hp.when.values))}")
        doc = hp.doc.split(" Active when")[0]
        rows.append(
            f"| {name} | {doc} | {hp.kind} | {default} | {valid} | {'; '.join(where) or 'all'} |"
        )
    return "\n".join(rows)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)
