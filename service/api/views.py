"""How jobs and trials look on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from service.core.jsonable import plain
from service.core.records import JobRecord, TrialRecord
from service.core.spec import spec_to_dict


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


_PER_JOB: dict[tuple[str, int | None], Mapping[str, Any]] = {}
_PER_JOB_KEPT = 4096


def _memo(job_id: str, number: int | None, make: Any) -> Any:
    """What never changes for a job (its spec's wire form, keyed by ``None``) or a trial (its
    configuration), worked out once per process: a job's spec and a trial's parameters are
    fixed when they are made, and job ids are random, never reused. Clients poll the same job
    again and again."""
    key = (job_id, number)
    found = _PER_JOB.get(key)
    if found is None:
        if len(_PER_JOB) >= _PER_JOB_KEPT:
            _PER_JOB.clear()
        found = _PER_JOB[key] = make()
    return found


def trial_configuration(job: JobRecord, trial: TrialRecord) -> dict[str, Any]:
    """What a trial trains with (defaults, fixed values and its parameters, active ones)."""
    found = _memo(
        job.id,
        trial.number,
        lambda: job.spec.configuration(trial.params),
    )
    return dict(found)


def spec_view(job: JobRecord) -> Mapping[str, Any]:
    return _memo(job.id, None, lambda: spec_to_dict(job.spec))


def job_view(job: JobRecord, best: TrialRecord | None) -> dict[str, Any]:
    objective = job.spec.training.objective
    view: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "progress": {
            "trials_finished": job.trials_finished,
            "trials_created": job.trials_created,
            "trials_total": job.max_trials,
            "extensions": job.extensions,
            "fraction": round(job.trials_finished / job.max_trials, 4),
        },
        "objective": {"metric": objective.metric, "direction": objective.direction.value},
        "objectives": [
            {"metric": o.metric, "direction": o.direction.value}
            for o in job.spec.training.all_objectives
        ],
        "best": None,
        "error": job.error,
        "stop_reason": job.stop_reason,
        "summary": job.summary or None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "deadline_at": iso(job.deadline_at),
        "status_history": [
            {"status": change.status.value, "at": iso(change.at)} for change in job.status_history
        ],
        "webhook": webhook_view(job),
        "model": {  # what the exported model takes and answers
            "input": job.spec.dataset.info.model_input(),
            "class_names": job.spec.dataset.info.output_names(),
            "bytes": job.model_bytes,  # None until one is kept (a succeeded or shipped job)
        },
        "spec": spec_view(job),
        "links": {
            "self": f"/v1/jobs/{job.id}",
            "trials": f"/v1/jobs/{job.id}/trials",
            "cancel": f"/v1/jobs/{job.id}/cancel",
            "extend": f"/v1/jobs/{job.id}/extend",
            "model": f"/v1/jobs/{job.id}/model",
        },
    }
    if best is not None:
        view["best"] = {
            "trial": best.number,
            "value": best.value,
            "params": best.params,
            "configuration": trial_configuration(job, best),
            "metrics": {**best.metrics, **job.test_metrics},
            "epochs": best.epochs_per_fold,
            "folds": best.folds,
            "best_epoch": best.best_epoch,
            "diagnosis": best.details.get("diagnosis"),
        }
    return view


def webhook_view(job: JobRecord) -> dict[str, Any] | None:
    if job.webhook is None:
        return None
    return {**plain(job.webhook), "delivered_at": iso(job.webhook.delivered_at)}


def job_summary(job: JobRecord) -> dict[str, Any]:
    """A job as a list shows it: no spec, trials or best configuration (those are one GET away)."""
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "progress": {
            "trials_finished": job.trials_finished,
            "trials_total": job.max_trials,
        },
        "best_value": job.best_value,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
        "links": {"self": f"/v1/jobs/{job.id}"},
    }


def trial_view(trial: TrialRecord) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.value,
        "params": trial.params,
        "value": trial.value,
        "metrics": trial.metrics,
        "epochs": trial.epochs_per_fold,
        "epochs_trained": trial.epochs,
        "best_epoch": trial.best_epoch,
        "diagnosis": trial.details.get("diagnosis"),
        "folds": trial.details.get("folds"),
        "attempt": trial.attempt,
        "preemptions": trial.preemptions,
        "history": trial.history,
        "error": trial.error,
        "worker": trial.worker,
        "created_at": iso(trial.created_at),
        "started_at": iso(trial.started_at),
        "finished_at": iso(trial.finished_at),
    }
