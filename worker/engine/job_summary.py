"""The counts a finished job's summary gives about its trials: by state, what pruning saved,
and for Hyperband how each bracket went (so that a person can see which early judgement paid)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    return summary


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
