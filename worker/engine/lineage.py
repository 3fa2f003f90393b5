"""What a warm-started job's summary says about the jobs it started from.

A warm-started job's ``best``, test scores and model are those of the trials it ran itself: its
sources' trials guided its optimizer, and were never trained by it (nor refit, nor scored on the
test set by it). What users want to know at the end is still "is this the best I have?", so
the summary names each source's best and, when the values can be compared, the best over all of
them: ``summary.warm_start.best``, with the job it comes from and where its model is.

Values compare only between jobs that measured them the same way: the same dataset, model,
fixed values and training (objective, validation, epochs, early stopping). Otherwise a source
is listed with ``comparable: false`` and takes no part in the best.
"""

from __future__ import annotations

from typing import Any

from service.core.records import JobRecord, TrialRecord, trial_numbered
from service.core.spec import Direction, JobSpec
from service.core.store import JobNotFound
from service.core.store.protocols import EngineStore


def comparable(earlier: JobSpec, spec: JobSpec) -> bool:
    """Whether two jobs' objective values measure the same thing."""
    return (
        earlier.dataset == spec.dataset
        and earlier.model == spec.model
        and earlier.fixed == spec.fixed
        and earlier.defaults_version == spec.defaults_version
        and earlier.training.objective == spec.training.objective
        and earlier.training.validation == spec.training.validation
        and earlier.training.max_epochs == spec.training.max_epochs
        and earlier.training.early_stopping == spec.training.early_stopping
    )


def warm_start_summary(
    store: EngineStore, job: JobRecord, best: TrialRecord | None
) -> dict[str, Any] | None:
    """``{"sources": [...], "best": {...}}`` for a warm-started job (None for the others)."""
    spec = job.spec
    if not spec.search.warm_start:
        return None
    sources: list[dict[str, Any]] = []
    candidates: list[dict[str, Any]] = []
    if best is not None and best.value is not None:
        candidates.append(_entry(job.id, best, this_job=True))
    for job_id in spec.search.warm_start:
        try:
            earlier = store.jobs.get(job_id)
            trial = trial_numbered(store.trials.list(job_id), earlier.best_trial)
        except JobNotFound:
            sources.append({"job_id": job_id, "available": False})
            continue
        same = comparable(earlier.spec, spec)
        entry = {"job_id": job_id, "available": True, "comparable": same}
        if trial is not None and trial.value is not None:
            entry.update(best_trial=trial.number, best_value=trial.value)
            if same:
                candidates.append(_entry(job_id, trial, this_job=False))
        sources.append(entry)
    pick = max if spec.training.objective.direction == Direction.MAX else min
    overall = pick(candidates, key=lambda c: c["value"]) if candidates else None
    return {"sources": sources, "best": overall}


def _entry(job_id: str, trial: TrialRecord, *, this_job: bool) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "trial": trial.number,
        "value": trial.value,
        "params": dict(trial.params),
        "from_source": not this_job,
        "model": f"/v1/jobs/{job_id}/model",
    }
