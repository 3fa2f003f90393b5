"""Several objectives in one job: which metrics may be one, in which direction, with which search.

The first objective is the job's ``training.objective``: trials are stopped early, compared by
the second look and refit by it, and the job's ``best`` is the best by it. The others (another
validation metric, or what the model costs: ``param_count``, ``inference_ms``) only shape the
Pareto front the job reports and, with ``strategy: bayesian``, the search (ParEGO,
``worker.engine.parego``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from service.core.catalog import COST_METRICS, OBJECTIVES
from service.core.spec.types import Direction, ObjectiveSpec, Strategy

MAX_OBJECTIVES = 3  # the exact hypervolume costs O(n^(k-1) log n) in the front's size n

Add = Callable[[str, str], None]


def allowed_objectives(task: str) -> dict[str, str]:
    """Every metric an objective may name for the task, with its direction."""
    return {**OBJECTIVES[task], **COST_METRICS}


def resolved_objectives(items: Sequence[Mapping[str, Any]], task: str) -> tuple[ObjectiveSpec, ...]:
    """The objectives with their directions filled in (a metric's own by default)."""
    allowed = allowed_objectives(task)
    return tuple(
        ObjectiveSpec(o["metric"], Direction(o.get("direction") or allowed.get(o["metric"], "max")))
        for o in items
    )


def check_objectives(data: dict[str, Any], task: str, add: Add) -> None:
    """Report what is wrong with ``training.objectives`` through ``add(path, message)``."""
    training = data["training"]
    items = training.get("objectives")
    if not items:
        return
    allowed, first = allowed_objectives(task), OBJECTIVES[task]
    seen: set[str] = set()
    for i, item in enumerate(items):
        metric, path = item["metric"], f"training.objectives.{i}"
        if i == 0 and metric not in first:
            add(
                f"{path}.metric",
                "The first objective is the one trials are stopped, compared and refit by: "
                f"for {task} one of {sorted(first)}.",
            )
        elif metric not in allowed:
            add(f"{path}.metric", f"For {task} use one of {sorted(allowed)}.")
        elif item.get("direction") not in (None, allowed[metric]):
            add(f"{path}.direction", f"{metric} must be {allowed[metric]}imized.")
        if metric in seen:
            add(f"{path}.metric", "Already an objective.")
        seen.add(metric)
    objective = training.get("objective") or {}
    first = resolved_objectives(items[:1], task)[0]
    if objective and (
        objective.get("metric") != first.metric
        or objective.get("direction") not in (None, first.direction.value)
    ):
        add(
            "training.objective",
            "The first of training.objectives is the objective: leave objective out, or give "
            "the same metric (and direction).",
        )
    strategy = data["search"].strategy
    if strategy in (Strategy.BOHB, Strategy.LR_RANGE_TEST):
        add(
            "training.objectives",
            f"Strategy {strategy.value} searches for one objective; with several use bayesian "
            "(ParEGO), random, grid or hyperband.",
        )
