"""Running one trial end to end against the store, and finalizing a job.

The store guarantees the protocol (claim under a lease, finish exactly once); this module does
the work in between: train while a ``TrialMonitor`` renews the lease, enforces time limits,
listens for cancellation and worker shutdown and applies the pruning rule; then record the
outcome.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from redis import RedisError

from service.core.datasets import DatasetStore, Fetch, load_job_spec
from service.core.records import JobStatus, TrialRecord, TrialState
from service.core.spec import SYNTHETIC, JobSpec
from service.core.spec_rules import LR_RANGE
from service.core.store import JobStore, LeaseState, TrialOutcome
from service.core.vocabulary import configuration
from worker.engine.diagnosis import diagnose
from worker.engine.heap import freeze_startup_heap
from worker.engine.pruning import Pruner
from worker.engine.results import FitResult

log = logging.getLogger(__name__)

PREEMPT = threading.Event()
"""Set (from a signal handler) when this worker process is shutting down: the running trial
stops at its next batch and goes back to the queue."""

_PEERS_REFRESH_S = 2.0


@dataclass(frozen=True)
class TrialPolicy:
    """The deployment's rules for running trials (from the settings)."""

    lease_s: float = 60.0
    max_attempts: int = 3
    max_trial_time_s: float = 3 * 3600


class StopReason(StrEnum):
    LOST = "lost"  # another worker owns the trial now: write nothing
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    PREEMPTED = "preempted"
    PRUNED = "pruned"


class TrialMonitor:
    """Watches over one running trial from a background thread and from the epoch hooks."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        number: int,
        token: str,
        spec: JobSpec,
        policy: TrialPolicy,
    ) -> None:
        self.store, self.job_id, self.number, self.token = store, job_id, number, token
        self.spec, self.lease_s = spec, policy.lease_s
        hard = spec.training.hard_time_limit_s or policy.max_trial_time_s
        soft = spec.training.time_limit_s or hard
        start = time.monotonic()
        self.soft_deadline, self.hard_deadline = start + soft, start + hard
        pruning = spec.search.pruning
        self.pruner = Pruner(pruning, spec.training.max_epochs) if pruning else None
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
        """Polled after every batch: True once the trial must stop."""
        if PREEMPT.is_set():
            self.stop(StopReason.PREEMPTED)
        if time.monotonic() >= self.soft_deadline:
            self.stop(StopReason.TIMED_OUT)
        return self.reason is not None

    def on_epoch(self, epochs: int, history: dict[str, list[float]]) -> bool:
        """Record progress (renewing the lease), then decide whether to go on."""
        self.history = history
        self.renew(epochs=str(epochs), history=json.dumps(history))
        if self.reason is None and self.pruner is not None and self._pruned(epochs):
            self.stop(StopReason.PRUNED)
        return not self.should_stop()

    def renew(self, **fields: str) -> None:
        try:
            state = self.store.renew_lease(
                self.job_id, self.number, self.token, self.lease_s, **fields
            )
        except RedisError as exc:  # a blip must not kill the trial; the lease has slack
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
                for t in self.store.list_trials(self.job_id)
                if t.number != self.number and t.state != TrialState.QUEUED
            ]
            self._peers_at = time.monotonic()
        return self.pruner.should_prune(epochs, self._curve(self.history), self._peers)

    def _curve(self, history: Mapping[str, list[float]]) -> list[float]:
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
            self.store.finish_trial(self.job_id, self.number, self.token, outcome)
        finally:
            os.kill(os.getpid(), signal.SIGKILL)


def execute_trial(
    store: JobStore, job_id: str, number: int, worker: str, policy: TrialPolicy
) -> str:
    """Claim, train and record trial ``number``; returns what happened.

    ``claimed``: trained and recorded. ``preempted``: handed back to the queue, the caller must
    dispatch it again. ``leased``: another delivery runs it now. Anything else: nothing to do.
    """
    claim = store.claim_trial(job_id, number, worker, policy.lease_s, policy.max_attempts)
    if not claim.claimed:
        log.info("trial %s/%s not run: %s", job_id, number, claim.outcome)
        return claim.outcome
    try:
        spec = load_job_spec(store, store.get_job(job_id))
        trial = store.get_trial(job_id, number)
        if trial is None:
            raise LookupError(f"trial {number} has no record")
    except RedisError:
        raise
    except Exception as exc:
        store.finish_trial(
            job_id, number, claim.token, TrialOutcome(TrialState.FAILED, error=_describe(exc))
        )
        return claim.outcome
    with TrialMonitor(store, job_id, number, claim.token, spec, policy) as monitor:
        outcome = _train(spec, trial.params, number, monitor)
    if monitor.reason == StopReason.LOST:
        log.warning("trial %s/%s lost its lease; result discarded", job_id, number)
        return "lost"
    if monitor.reason == StopReason.PREEMPTED and store.release_trial(job_id, number, claim.token):
        return "preempted"
    store.finish_trial(job_id, number, claim.token, outcome)
    return claim.outcome


def _train(spec: JobSpec, params: dict, number: int, monitor: TrialMonitor) -> TrialOutcome:
    """Train the claimed trial. Any error but the store's own is the trial's failure."""
    try:
        config = configuration(spec.fixed, params, spec.model.family, spec.task)
        result = _fit(spec, config, number, monitor, DatasetStore(monitor.store.redis).data)
    except RedisError:
        raise
    except Exception as exc:
        log.exception("trial %s failed", number)
        return TrialOutcome(TrialState.FAILED, error=_describe(exc))
    metric = spec.training.objective.metric
    value = result.metrics.get(metric)
    details = {k: v for k, v in result.details.items() if k != "stopped"}
    if result.metrics and spec.model.family != SYNTHETIC:
        details["diagnosis"] = diagnose(result.metrics, result.history, spec.task, config)
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
    spec: JobSpec, config: dict, number: int, monitor: TrialMonitor, fetch: Fetch
) -> FitResult:
    if spec.model.family == SYNTHETIC:
        from worker.engine.synthetic import run_synthetic

        return run_synthetic(
            spec, config, number, on_epoch=monitor.on_epoch, stop_check=monitor.should_stop
        )
    from worker.engine.datasets import load_dataset
    from worker.engine.training import fit_trial

    freeze_startup_heap()
    seed = spec.search.seed * 100_003 + number
    dataset = load_dataset(spec.dataset, fetch)
    if spec.search.strategy == LR_RANGE:
        from worker.engine.lr_range import range_test

        return range_test(spec, config, dataset, seed=seed, stop_check=monitor.should_stop)
    return fit_trial(
        spec, config, dataset, seed=seed, on_epoch=monitor.on_epoch, stop_check=monitor.should_stop
    )


def finalize_job(store: JobStore, job_id: str, max_model_bytes: int = 256 << 20) -> JobStatus:
    """Refit the best configuration on all training data, score it on the test set, keep the
    model (up to ``max_model_bytes``), finish."""
    job = store.get_job(job_id)
    if job.status.is_finished:
        return job.status
    active = (JobStatus.QUEUED, JobStatus.RUNNING)
    spec = load_job_spec(store, job)
    trials = store.list_trials(job_id)
    summary = _summary(spec, trials)
    if spec.search.strategy == LR_RANGE:
        return _finish_range_test(store, job_id, trials, summary)
    best = trials[job.best_trial] if job.best_trial is not None else None
    if best is not None and "diagnosis" in best.details:
        summary["diagnosis"] = best.details["diagnosis"]
    store.set_fields(job_id, summary=json.dumps(summary))
    if best is None:
        errors = [t.error for t in trials if t.error]
        reason = f"no trial completed; first error: {errors[0]}" if errors else "no trial completed"
        store.set_status(job_id, JobStatus.FAILED, active, error=reason)
        return JobStatus.FAILED
    config = configuration(spec.fixed, best.params, spec.model.family, spec.task)
    try:
        test_metrics, model = _refit(
            spec, config, _refit_epochs(best), DatasetStore(store.redis).data
        )
    except Exception as exc:
        log.exception("refit of job %s failed", job_id)
        store.set_status(job_id, JobStatus.FAILED, active, error=f"refit failed: {_describe(exc)}")
        return JobStatus.FAILED
    fields = {"test_metrics": json.dumps(test_metrics)}
    if model is not None and len(model) <= max_model_bytes:
        store.save_model(job_id, model)
        fields["model_bytes"] = str(len(model))
    elif model is not None:
        summary["model_not_kept"] = f"{len(model)} bytes is over the {max_model_bytes} limit"
        fields["summary"] = json.dumps(summary)
    store.set_fields(job_id, **fields)
    store.set_status(job_id, JobStatus.SUCCEEDED, active)
    return JobStatus.SUCCEEDED


def _refit_epochs(best: TrialRecord) -> int:
    """The best trial's early-stopping epoch (the fold mean with k-fold), else all it ran."""
    return best.best_epoch or best.epochs


def _finish_range_test(
    store: JobStore, job_id: str, trials: list[TrialRecord], summary: dict[str, object]
) -> JobStatus:
    """A range test has no best trial to refit: its result is the curve and the suggestion."""
    active = (JobStatus.QUEUED, JobStatus.RUNNING)
    trial = trials[0] if trials else None
    result = trial.details.get("lr_range") if trial is not None else None
    if trial is None or trial.state != TrialState.COMPLETED or not result or "error" in result:
        error = (result or {}).get("error") or (trial.error if trial else None) or "no result"
        store.set_fields(job_id, summary=json.dumps(summary))
        store.set_status(job_id, JobStatus.FAILED, active, error=f"range test failed: {error}")
        return JobStatus.FAILED
    store.set_fields(job_id, summary=json.dumps({**summary, "lr_range": result}))
    store.set_status(job_id, JobStatus.SUCCEEDED, active)
    return JobStatus.SUCCEEDED


def _refit(
    spec: JobSpec, config: dict, epochs: int, fetch: Fetch
) -> tuple[dict[str, float], bytes | None]:
    if spec.model.family == SYNTHETIC:
        from worker.engine.synthetic import synthetic_test_scores

        return synthetic_test_scores(config), None
    from worker.engine.datasets import load_dataset
    from worker.engine.training import refit

    freeze_startup_heap()
    return refit(
        spec, config, load_dataset(spec.dataset, fetch), epochs=epochs, seed=spec.search.seed
    )


def _summary(spec: JobSpec, trials: list) -> dict[str, object]:
    """Trial counts by state, and the epochs pruning saved (max_epochs minus epochs run)."""
    states: dict[str, int] = {}
    for trial in trials:
        states[trial.state.value] = states.get(trial.state.value, 0) + 1
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    return {
        "trials_by_state": states,
        "pruned_trials": len(pruned),
        "epochs_saved_by_pruning": sum(spec.training.max_epochs - t.epochs for t in pruned),
        "epochs_trained": sum(t.epochs for t in trials),
    }


def _describe(exc: BaseException) -> str:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return last[:2000]
