"""How much each searched hyperparameter explains the objective, from a job's scored trials.

A random forest (scikit-learn) learns the objective from the trials' parameters; permutation
importance then measures how much its fit on those trials drops when one dimension's values are
shuffled. Shares are normalised to sum to 1 (a dimension that explains nothing gets 0). It runs
on a control worker, never in the API process, and is cached per job version like the plots.
With few trials it is noisy, and the answer says how many it rests on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from service.core.records import TrialRecord
from service.core.spec import Dimension, DimensionType, JobSpec

MIN_TRIALS = 5
METHOD = "permutation importance of a random forest (scikit-learn), over the scored trials"


def importance(spec: JobSpec, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """``{"importance": {name: share}, "trials": n, "method": ..., "note": ...}``."""
    scored = [t for t in trials if t.value is not None and math.isfinite(t.value)]
    names = sorted(spec.search_space)
    out: dict[str, Any] = {"method": METHOD, "trials": len(scored), "importance": {}}
    if not names:
        return {**out, "note": "Nothing was searched."}
    if len(scored) < MIN_TRIALS:
        return {**out, "note": f"Needs at least {MIN_TRIALS} scored trials."}
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    x = np.array([[_encode(t.params.get(n), spec.search_space[n]) for n in names]
                  for t in scored])  # fmt: skip
    y = np.array([t.value for t in scored], dtype=float)
    if np.ptp(y) == 0:
        return {**out, "note": "Every scored trial has the same value."}
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=0)
    forest.fit(x, y)
    found = permutation_importance(forest, x, y, n_repeats=10, random_state=0)
    drops = np.clip(found.importances_mean, 0.0, None)
    total = float(drops.sum())
    shares = drops / total if total > 0 else drops
    out["importance"] = {
        n: round(float(s), 4) for n, s in sorted(zip(names, shares, strict=True),
                                                 key=lambda p: -p[1])
    }  # fmt: skip
    return out


def _encode(value: Any, dim: Dimension) -> float:
    """A parameter as one number the forest can split on: a log-scaled range by its log, a
    choice by its position, an inactive name (absent) below every real value."""
    if value is None:
        return -1.0
    if dim.type == DimensionType.CATEGORICAL:
        choices: Mapping[Any, int] = {c: i for i, c in enumerate(dim.choices or ())}
        return float(choices.get(value, -1))
    number = float(value)
    return math.log(number) if dim.log and number > 0 else number
