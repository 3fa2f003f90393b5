"""Running one trial end to end against the store, and finalizing a job.

The store guarantees the protocol (claim under a lease, finish exactly once); this module does
the work in between: train, report each epoch (which also renews the lease), and record the
outcome. A heartbeat thread keeps the lease alive through long epochs.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from types import TracebackType

from redis import RedisError

from service.core.records import JobStatus, TrialState
from service.core.spec import load_spec
from service.core.store import JobStore, TrialOutcome
from service.core.vocabulary import configuration

log = logging.getLogger(__name__)


class Heartbeat:
    """Renews a trial's lease every third of its length until stopped.

    ``lost`` becomes True when the store says another worker took the trial over; training
    then stops at the end of its epoch.
    """

    def __init__(
        self, store: JobStore, job_id: str, number: int, token: str, lease_s: float
    ) -> None:
        self.store, self.job_id, self.number, self.token = store, job_id, number, token
        self.lease_s = lease_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tuneq-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def renew(self, **fields: str) -> bool:
        try:
            if not self.store.renew_lease(
                self.job_id, self.number, self.token, self.lease_s, **fields
            ):
                self.lost = True
        except RedisError as exc:  # a blip must not kill the trial; the lease has slack
            log.warning("lease renewal for %s/%s failed: %s", self.job_id, self.number, exc)
        return not self.lost

    def report_epoch(self, epochs: int, history: dict[str, list[float]]) -> bool:
        return self.renew(epochs=str(epochs), history=json.dumps(history))

    def _run(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            self.renew()


def execute_trial(store: JobStore, job_id: str, number: int, worker: str, lease_s: float) -> str:
    """Claim, train and record trial ``number``; returns the claim's outcome.

    Anything but ``claimed`` means another delivery owns or finished this trial: do nothing.
    """
    claim = store.claim_trial(job_id, number, worker, lease_s)
    if not claim.claimed:
        log.info("trial %s/%s not run: %s", job_id, number, claim.outcome)
        return claim.outcome
    with Heartbeat(store, job_id, number, claim.token, lease_s) as heartbeat:
        outcome = _train(store, job_id, number, heartbeat)
    if heartbeat.lost:
        log.warning("trial %s/%s lost its lease; result discarded", job_id, number)
        return "lost"
    store.finish_trial(job_id, number, claim.token, outcome)
    return claim.outcome


def _train(store: JobStore, job_id: str, number: int, heartbeat: Heartbeat) -> TrialOutcome:
    """Train the claimed trial. Any error but the store's own is the trial's failure."""
    from worker.engine.datasets import load_builtin
    from worker.engine.training import fit_trial

    try:
        spec = load_spec(store.get_job(job_id).spec)
        trial = store.get_trial(job_id, number)
        if trial is None:
            raise LookupError(f"trial {number} has no record")
        result = fit_trial(
            spec,
            configuration(spec.fixed, trial.params),
            load_builtin(spec.dataset.builtin),
            seed=spec.search.seed * 100_003 + number,
            on_epoch=heartbeat.report_epoch,
        )
    except RedisError:
        raise
    except Exception as exc:
        log.exception("trial %s/%s failed", job_id, number)
        return TrialOutcome(TrialState.FAILED, error=_describe(exc))
    if result.diverged:
        return TrialOutcome(
            TrialState.DIVERGED,
            metrics=result.metrics,
            history=result.history,
            epochs=result.epochs,
            error="loss became NaN or infinite",
        )
    return TrialOutcome(
        TrialState.COMPLETED,
        value=result.metrics[spec.training.objective.metric],
        metrics=result.metrics,
        history=result.history,
        epochs=result.epochs,
        best_epoch=result.best_epoch,
    )


def finalize_job(store: JobStore, job_id: str) -> JobStatus:
    """Refit the best configuration on all training data, score it on the test set, finish."""
    from worker.engine.datasets import load_builtin
    from worker.engine.training import refit_and_test

    job = store.get_job(job_id)
    if job.status.is_finished:
        return job.status
    active = (JobStatus.QUEUED, JobStatus.RUNNING)
    best = store.get_trial(job_id, job.best_trial) if job.best_trial is not None else None
    if best is None:
        errors = [t.error for t in store.list_trials(job_id) if t.error]
        reason = f"no trial completed; first error: {errors[0]}" if errors else "no trial completed"
        store.set_status(job_id, JobStatus.FAILED, active, error=reason)
        return JobStatus.FAILED
    spec = load_spec(job.spec)
    try:
        test_metrics = refit_and_test(
            spec,
            configuration(spec.fixed, best.params),
            load_builtin(spec.dataset.builtin),
            epochs=best.best_epoch or best.epochs,
            seed=spec.search.seed,
        )
    except Exception as exc:
        log.exception("refit of job %s failed", job_id)
        store.set_status(job_id, JobStatus.FAILED, active, error=f"refit failed: {_describe(exc)}")
        return JobStatus.FAILED
    store.set_fields(job_id, test_metrics=json.dumps(test_metrics))
    store.set_status(job_id, JobStatus.SUCCEEDED, active)
    return JobStatus.SUCCEEDED


def _describe(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return last[:2000]
