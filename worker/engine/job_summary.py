"""What a finished job's summary says about its trials: counts by state, what pruning saved,
for Hyperband how each bracket went (which early judgement paid), and for several objectives
the Pareto front."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.core.catalog import COST_METRICS
from service.core.pareto import job_front
from service.core.records import TrialRecord, TrialState
from service.core.spec import JobSpec
from service.core.spec.brackets import bracket_of, brackets


def trial_summary(spec: JobSpec, trials: Sequence[TrialRecord]) -> dict[str, object]:
    """Trial counts by state, and the epochs pruning saved (max_epochs minus epochs run)."""
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.value] = states.get(trial.state.value, 0) + 1
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    summary: dict[str, object] = {
        "trials_by_state": states,
        "pruned_trials": len(pruned),
        "epochs_saved_by_pruning": sum(spec.training.max_epochs - t.epochs for t in pruned),
        "epochs_trained": sum(t.epochs for t in trials),
    }
    if spec.search.hyperband_brackets:
        summary["brackets"] = bracket_summary(spec, trials)
    if spec.training.objectives:
        summary["pareto"] = pareto_summary(spec, trials)
    return summary


def pareto_summary(spec: JobSpec, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """The Pareto front over the job's objectives (best first by the first objective), each
    trial with its parameters, its objectives' values and its validation and cost metrics, and
    the hypervolume it dominates
    (``service.core.pareto`` says up to which reference point)."""
    objectives = spec.training.objectives
    found = job_front(trials, objectives)
    described = [{"metric": o.metric, "direction": o.direction.value} for o in objectives]
    if found is None:
        return {
            "objectives": described,
            "front": [],
            "hypervolume": None,
            "hypervolume_normalised": None,
            "reference": None,
        }
    by_number = {t.number: t for t in trials}
    signs = [1.0 if o.direction == "min" else -1.0 for o in objectives]
    ordered = sorted(found.trials, key=lambda n: found.points[n])
    return {
        "objectives": described,
        "front": [
            {
                "trial": n,
                "params": dict(by_number[n].params),
                "values": {o.metric: by_number[n].metrics[o.metric] for o in objectives},
                "metrics": {
                    name: value
                    for name, value in by_number[n].metrics.items()
                    if name.startswith("val_") or name in COST_METRICS
                },
            }
            for n in ordered
        ],
        "hypervolume": found.hypervolume,
        "hypervolume_normalised": found.normalised,
        "reference": {
            o.metric: sign * r
            for o, sign, r in zip(objectives, signs, found.reference, strict=True)
        },
    }


def bracket_summary(spec: JobSpec, trials: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """Per Hyperband bracket, the most aggressive first: its rungs, its trials, how many were
    stopped at a rung, the epochs they trained, and its best completed trial (a stopped one's
    partial value is not a model's, as for the job's best)."""
    layout = brackets(spec.training.max_epochs, spec.search.hyperband)
    sign = 1.0 if spec.training.objective.direction == "max" else -1.0
    rows = []
    for bracket in layout:
        own = [t for t in trials if bracket_of(t.number, layout) == bracket]
        scored = [t for t in own if t.value is not None and t.state == TrialState.COMPLETED]
        best = max(scored, key=lambda t: sign * (t.value or 0.0), default=None)
        rows.append(
            {
                "bracket": bracket.index,
                "rungs": list(bracket.rungs),
                "trials": len(own),
                "pruned": sum(t.state == TrialState.PRUNED for t in own),
                "epochs_trained": sum(t.epochs for t in own),
                "best_value": None if best is None else best.value,
                "best_trial": None if best is None else best.number,
            }
        )
    return rows
