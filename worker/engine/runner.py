"""Running one trial end to end against the store, and finalizing a job.

The store guarantees the protocol (claim under a lease, finish exactly once); this module does
the work in between: train while a ``TrialMonitor`` renews the lease, enforces time limits,
listens for cancellation and worker shutdown and applies the pruning rule; then record the
outcome.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from service.core.records import ACTIVE, JobStatus, TrialRecord, TrialState, trial_numbered
from service.core.spec import SYNTHETIC, JobSpec, Strategy
from service.core.store import ClaimOutcome, LeaseState, StoreUnavailable, TrialOutcome
from service.core.store.protocols import EngineStore
from worker.engine.diagnosis import diagnosis_of
from worker.engine.finalists import second_look
from worker.engine.heap import freeze_startup_heap
from worker.engine.job_summary import trial_summary
from worker.engine.lineage import warm_start_summary
from worker.engine.pruning import pruner_for
from worker.engine.results import FitResult
from worker.engine.trial_terms import Execution, StopReason, TrialPolicy

if TYPE_CHECKING:  # the loader brings scikit-learn; pool children import it on first use
    from worker.engine.dataset_loader import Fetch

log = logging.getLogger(__name__)

PREEMPT = threading.Event()
"""Set (from a signal handler) when this worker process is shutting down: the running trial
stops at its next batch and goes back to the queue."""

_PEERS_REFRESH_S = 2.0


class TrialMonitor:
    """Watches over one running trial from a background thread and from the epoch hooks."""

    def __init__(
        self,
        store: EngineStore,
        job_id: str,
        number: int,
        token: str,
        spec: JobSpec,
        policy: TrialPolicy,
    ) -> None:
        self.store, self.job_id, self.number, self.token = store, job_id, number, token
        self.spec, self.lease_s = spec, policy.lease_s
        self.max_model_params = policy.max_model_params
        hard = spec.training.hard_time_limit_s or policy.max_trial_time_s
        soft = spec.training.time_limit_s or hard
        start = time.monotonic()
        self.soft_deadline, self.hard_deadline = start + soft, start + hard
        self.pruner = pruner_for(spec, number)
        self.reason: StopReason | None = None
        self.history: dict[str, list[float]] = {}
        self._peers: list[list[float]] = []
        self._peers_at = -math.inf
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="tuneq-monitor")

    def __enter__(self) -> TrialMonitor:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def stop(self, reason: StopReason) -> None:
        if self.reason is None:
            self.reason = reason

    def should_stop(self) -> bool:
        """Polled after every call into the train step (one batch, or a few cheap ones:
        ``worker.engine.execution``): True once the trial must stop."""
        if PREEMPT.is_set():
            self.stop(StopReason.PREEMPTED)
        if time.monotonic() >= self.soft_deadline:
            self.stop(StopReason.TIMED_OUT)
        return self.reason is not None

    def on_epoch(self, epochs: int, history: dict[str, list[float]]) -> bool:
        """Record progress (renewing the lease), then decide whether to go on."""
        self.history = history
        self.renew(epochs=epochs, history=history)
        if self.reason is None and self.pruner is not None and self._pruned(epochs):
            self.stop(StopReason.PRUNED)
        return not self.should_stop()

    def renew(
        self, epochs: int | None = None, history: Mapping[str, Sequence[float]] | None = None
    ) -> None:
        try:
            state = self.store.trials.renew(
                self.job_id, self.number, self.token, self.lease_s, epochs=epochs, history=history
            )
        except StoreUnavailable as exc:  # a blip must not kill the trial; the lease has slack
            log.warning("lease renewal for %s/%s failed: %s", self.job_id, self.number, exc)
            return
        if state == LeaseState.LOST:
            self.stop(StopReason.LOST)
        elif state == LeaseState.CANCELLED:
            self.stop(StopReason.CANCELLED)

    def _pruned(self, epochs: int) -> bool:
        assert self.pruner is not None
        if not self.pruner.checks_at(epochs):
            return False
        if time.monotonic() - self._peers_at > _PEERS_REFRESH_S:
            self._peers = [
                self._curve(t.history)
                for t in self.store.trials.list(self.job_id)
                if t.number != self.number
                and t.state != TrialState.QUEUED
                and self.pruner.peer(t.number)
            ]
            self._peers_at = time.monotonic()
        return self.pruner.should_prune(epochs, self._curve(self.history), self._peers)

    def _curve(self, history: Mapping[str, Sequence[float]]) -> list[float]:
        """The objective per epoch, higher is better."""
        objective = self.spec.training.objective
        sign = 1.0 if objective.direction == "max" else -1.0
        return [sign * v for v in history.get(objective.metric, []) if math.isfinite(v)]

    def _run(self) -> None:
        while True:
            wait = min(self.lease_s / 3, max(0.0, self.hard_deadline - time.monotonic()))
            if self._stop.wait(wait):
                return
            if time.monotonic() >= self.hard_deadline:
                self._hard_timeout()
            self.renew()

    def _hard_timeout(self) -> None:
        """Record the trial timed out, then end this process: its code would not stop."""
        limit = self.hard_deadline - self.soft_deadline
        log.error(
            "trial %s/%s passed its hard time limit; killing its process", self.job_id, self.number
        )
        outcome = TrialOutcome(
            TrialState.TIMED_OUT,
            history=self.history,
            epochs=len(next(iter(self.history.values()), [])),
            error=f"hard time limit reached (soft limit + {limit:.0f} s); process killed",
        )
        try:
            self.store.trials.finish(self.job_id, self.number, self.token, outcome)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)


def execute_trial(
    store: EngineStore, job_id: str, number: int, worker: str, policy: TrialPolicy
) -> Execution:
    """Claim, train and record trial ``number``; returns what happened (see ``Execution``).

    Raises:
        JobNotFound: the job is gone.
    """
    claim = store.trials.claim(job_id, number, worker, policy.lease_s, policy.max_attempts)
    if not claim.claimed:
        log.info("trial %s/%s not run: %s", job_id, number, claim.outcome)
        return Execution.BUSY if claim.outcome == ClaimOutcome.LEASED else Execution.SKIPPED
    try:
        spec = store.jobs.get(job_id).spec
        trial = store.trials.get(job_id, number)
        if trial is None:
            raise LookupError(f"trial {number} has no record")
    except StoreUnavailable:
        raise
    except Exception as exc:
        store.trials.finish(
            job_id, number, claim.token, TrialOutcome(TrialState.FAILED, error=_describe(exc))
        )
        return Execution.RAN
    with TrialMonitor(store, job_id, number, claim.token, spec, policy) as monitor:
        outcome = _train(spec, trial.params, number, monitor)
    if monitor.reason == StopReason.LOST:
        log.warning("trial %s/%s lost its lease; result discarded", job_id, number)
        return Execution.LOST
    if monitor.reason == StopReason.PREEMPTED and store.trials.release(job_id, number, claim.token):
        return Execution.PREEMPTED
    store.trials.finish(job_id, number, claim.token, outcome)
    return Execution.RAN


def _train(
    spec: JobSpec, params: Mapping[str, Any], number: int, monitor: TrialMonitor
) -> TrialOutcome:
    """Train the claimed trial. Any error but the store's own is the trial's failure."""
    try:
        config = spec.configuration(params)
        result = _fit(spec, config, number, monitor, monitor.store.datasets.data)
    except StoreUnavailable:
        raise
    except Exception as exc:
        log.exception("trial %s failed", number)
        return TrialOutcome(TrialState.FAILED, error=_describe(exc))
    metric = spec.training.objective.metric
    value = result.metrics.get(metric)
    details = {k: v for k, v in result.details.items() if k != "stopped"}
    if result.metrics and spec.model.family != SYNTHETIC:
        details["diagnosis"] = diagnosis_of(result, spec, config)
    common = {
        "metrics": result.metrics,
        "history": result.history,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "details": details,
    }
    if result.diverged:
        return TrialOutcome(TrialState.DIVERGED, error="loss became NaN or infinite", **common)
    if monitor.reason == StopReason.PRUNED:
        return TrialOutcome(TrialState.PRUNED, value=value, **common)
    if monitor.reason == StopReason.CANCELLED:
        return TrialOutcome(TrialState.CANCELLED, error="job cancelled", **common)
    if monitor.reason == StopReason.TIMED_OUT:
        return TrialOutcome(TrialState.TIMED_OUT, error="time limit reached", **common)
    return TrialOutcome(TrialState.COMPLETED, value=value, **common)


def _fit(
    spec: JobSpec, config: dict[str, Any], number: int, monitor: TrialMonitor, fetch: Fetch
) -> FitResult:
    if spec.model.family == SYNTHETIC:
        from worker.engine.synthetic import run_synthetic

        return run_synthetic(
            spec, config, number, on_epoch=monitor.on_epoch, stop_check=monitor.should_stop
        )
    from worker.engine.dataset_loader import load_dataset
    from worker.engine.training import fit_trial

    freeze_startup_heap()
    seed = spec.search.seed * 100_003 + number
    dataset = load_dataset(spec.dataset, fetch)
    if spec.search.strategy == Strategy.LR_RANGE_TEST:
        from worker.engine.lr_range import range_test

        return range_test(spec, config, dataset, seed=seed, stop_check=monitor.should_stop)
    return fit_trial(
        spec,
        config,
        dataset,
        seed=seed,
        on_epoch=monitor.on_epoch,
        stop_check=monitor.should_stop,
        max_params=monitor.max_model_params,
    )


def finalize_job(
    store: EngineStore, job_id: str, max_model_bytes: int = 256 << 20, lease_s: float = 0.0
) -> JobStatus:
    """Refit the best configuration on the training data, score it on the test set, keep the
    model (up to ``max_model_bytes``), finish: succeeded, or cancelled for a ``stopping`` job
    (cancelled with its best to ship; its trials still running are not waited for). With
    ``lease_s``, the finalization lease is renewed by that much before each training of the
    finalists' second look, which stops (and this finalization with it) once it is lost.

    Raises:
        JobNotFound: the job is gone.
    """
    job = store.jobs.get(job_id)
    if job.status.is_finished:
        return job.status
    spec = job.spec
    trials = store.trials.list(job_id)
    summary = trial_summary(spec, trials)
    if spec.search.strategy == Strategy.LR_RANGE_TEST:
        return _finish_range_test(store, job_id, trials, summary)
    best = trial_numbered(trials, job.best_trial)
    if best is None:
        errors = [t.error for t in trials if t.error]
        reason = f"no trial completed; first error: {errors[0]}" if errors else "no trial completed"
        if (lineage := warm_start_summary(store, job, best)) is not None:
            summary["warm_start"] = lineage
        return _finish(store, job_id, JobStatus.FAILED, error=reason, summary=summary)
    hurry = job.status == JobStatus.STOPPING or (job.deadline_at or math.inf) < store.server_time()
    looked = (best, []) if hurry else second_look(
        spec, trials, best, store.datasets.data,
        lambda: not lease_s or store.jobs.renew_finalize(job_id, lease_s),
    )  # fmt: skip
    if looked is None:  # the lease was lost: what comes next is another finalizer's
        return store.jobs.get(job_id).status
    best, finalists = looked
    if finalists:
        summary["finalists"] = [f.view() for f in finalists]
    if "diagnosis" in best.details:
        summary["diagnosis"] = best.details["diagnosis"]
    if (lineage := warm_start_summary(store, job, best)) is not None:
        summary["warm_start"] = lineage
    config = spec.configuration(best.params)
    try:
        test_metrics, model, refit_summary = _refit(spec, config, best, store.datasets.data)
    except Exception as exc:
        log.exception("refit of job %s failed", job_id)
        error = f"refit failed: {_describe(exc)}"
        return _finish(store, job_id, JobStatus.FAILED, error=error, summary=summary)
    if refit_summary:
        summary["refit"] = refit_summary
    kept = None
    if model is not None and len(model) <= max_model_bytes:
        store.models.save(job_id, model)
        kept = len(model)
    elif model is not None:
        summary["model_not_kept"] = f"{len(model)} bytes is over the {max_model_bytes} limit"
    return _finish(
        store,
        job_id,
        JobStatus.SUCCEEDED,
        summary=summary,
        test_metrics=test_metrics,
        model_bytes=kept,
        best=(best.number, float(best.value or 0.0)) if finalists else None,
    )


def _finish(store: EngineStore, job_id: str, status: JobStatus, **results: Any) -> JobStatus:
    """Move the job to its final status with its results, in one step. A job stopping (cancelled,
    its best to ship) ends cancelled with them; one cancelled outright stays as it is, and the
    model saved for these results is removed (no expiry was set on it, and it is nobody's)."""
    if store.jobs.set_status(job_id, status, ACTIVE, **results):
        return status
    if store.jobs.set_status(job_id, JobStatus.CANCELLED, (JobStatus.STOPPING,), **results):
        return JobStatus.CANCELLED
    if results.get("model_bytes") is not None:
        store.models.delete(job_id)
    store.jobs.release_finalize(job_id)  # so that the job can be reopened at once
    return store.jobs.get(job_id).status


def _refit_epochs(best: TrialRecord) -> int:
    """The best trial's early-stopping epoch (the fold mean with k-fold), else all it ran."""
    return best.best_epoch or best.epochs_per_fold


def _finish_range_test(
    store: EngineStore, job_id: str, trials: list[TrialRecord], summary: dict[str, object]
) -> JobStatus:
    """A range test has no best trial to refit: its result is the curve and the suggestion."""
    trial = trials[0] if trials else None
    result = trial.details.get("lr_range") if trial is not None else None
    if trial is None or trial.state != TrialState.COMPLETED or not result or "error" in result:
        error = (result or {}).get("error") or (trial.error if trial else None) or "no result"
        failure = f"range test failed: {error}"
        return _finish(store, job_id, JobStatus.FAILED, error=failure, summary=summary)
    return _finish(store, job_id, JobStatus.SUCCEEDED, summary={**summary, "lr_range": result})


def _refit(
    spec: JobSpec, config: dict[str, Any], best: TrialRecord, fetch: Fetch
) -> tuple[dict[str, float], bytes | None, dict[str, Any]]:
    """The test metrics, the model (none for the synthetic family) and the refit's summary."""
    if spec.model.family == SYNTHETIC:
        from worker.engine.synthetic import synthetic_test_scores

        return synthetic_test_scores(config), None, {}
    from worker.engine.dataset_loader import load_dataset
    from worker.engine.refit import ship

    freeze_startup_heap()
    dataset = load_dataset(spec.dataset, fetch)
    epochs, most = _refit_epochs(best), best.epochs_per_fold
    return ship(spec, config, dataset, best.value, epochs=epochs, most=most)


def _describe(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return last[:2000]
