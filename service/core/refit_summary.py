"""The refit's reading in words, for the CLI's summary and the report alike: how the shipped
model was trained, its objective as the search, the refit's inner validation part and the test
set each measured it, and what the model takes and answers (the standard-library client imports
this, so: no dependencies)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_METHODS = {
    "fixed_epochs": "all training data, the best trial's epoch count",
    "averaged": "all training data, the weights of its last epochs averaged",
}
_PARTS = {
    "tenth": "a tenth of the training data kept aside",
    "own": "the dataset's validation part",
}


def _how(refit: Mapping[str, Any]) -> str:
    method = str(refit.get("method", ""))
    if method != "inner_validation":
        return _METHODS.get(method, method)
    part = _PARTS.get(str(refit.get("inner_part")), "an inner validation part")
    kept = "the best epoch on it kept" if refit.get("kept_best_epoch") else "the last epoch kept"
    return f"{part}, {kept}"


def describe_refit(refit: Mapping[str, Any], metric: str) -> list[str]:
    """Lines: the method and epochs; the three values side by side; any warning."""
    if not refit:
        return []
    lines = [f"Refit: {refit.get('method')} ({_how(refit)}), {refit.get('epochs')} epochs"]
    values = [
        (label, refit[key])
        for label, key in (
            ("search", "search_value"),
            ("refit inner validation", "inner_validation_value"),
            ("test", "test_value"),
        )
        if isinstance(refit.get(key), int | float)
    ]
    if values:
        base = metric.removeprefix("val_")
        lines.append(f"  {base}: " + ", ".join(f"{label} {value:.4f}" for label, value in values))
    if refit.get("warning"):
        lines.append(f"Warning: {refit['warning']}")
    return lines


def describe_finalists(finalists: Any, metric: str) -> list[str]:
    """Lines: the finalists' second look, each finalist's search and re-scored values, and
    which one the refit took (nothing when the job had none)."""
    if not finalists:
        return []
    base = metric.removeprefix("val_")
    chosen = next((f["trial"] for f in finalists if f.get("chosen")), None)
    lines = [f"Second look: the best {len(finalists)} trials scored again by k-fold "
             f"cross-validation on the training part; the refit took trial {chosen}"]  # fmt: skip
    for f in finalists:
        again = f.get("rescored_value")
        spread = f" +/- {f['rescored_std']:.4f}" if f.get("rescored_std") is not None else ""
        second = f"{again:.4f}{spread}" if again is not None else f"not scored ({f.get('error')})"
        mark = " (chosen)" if f.get("chosen") else ""
        lines.append(f"  trial {f['trial']}: {base} search {f['search_value']:.4f}, "
                     f"k-fold {second}{mark}")  # fmt: skip
    return lines


def describe_model_io(model_input: Mapping[str, Any], class_names: Any) -> list[str]:
    """Lines: what the shipped model takes, when it is a table's dict of columns, and the class
    each output stands for, when the classes have names."""
    lines = []
    if model_input.get("type") == "columns":
        columns = ", ".join(f"{n} ({t})" for n, t in dict(model_input["columns"]).items())
        lines.append(f"The model takes a dict of columns: {columns}; NaN for an empty number.")
    names = [str(n) for n in class_names or ()]
    if any(name != str(i) for i, name in enumerate(names)):
        lines.append(f"Its outputs are the classes {', '.join(names)}, in that order.")
    return lines


MAX_FRONT_LINES = 10


def describe_pareto(pareto: Any) -> list[str]:
    """Lines: the Pareto front of a job with several objectives, its hypervolume, and its
    trials (at most ``MAX_FRONT_LINES``; the job's summary has them all)."""
    if not pareto or not pareto.get("front"):
        return []
    goals = ", ".join(f"{o['direction']}imize {o['metric']}" for o in pareto["objectives"])
    front = pareto["front"]
    lines = [f"Pareto front ({goals}): {len(front)} trials not dominated; they dominate "
             f"{pareto['hypervolume_normalised']:.1%} of the box from the best values to the "
             "reference point (the worst values, a tenth of their range further)"]  # fmt: skip
    for entry in front[:MAX_FRONT_LINES]:
        values = ", ".join(f"{m} {v:.6g}" for m, v in entry["values"].items())
        lines.append(f"  trial {entry['trial']}: {values}")
    if len(front) > MAX_FRONT_LINES:
        lines.append(f"  and {len(front) - MAX_FRONT_LINES} more (the job's summary.pareto)")
    return lines
