"""Running one trial and finalizing a job (``worker.engine.runner``) on the in-memory store,
with the synthetic family so that no Keras model trains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.core.records import JobStatus, TrialState
from service.core.spec import load_spec
from service.core.store import LeaseState, TrialOutcome
from service.core.vocabulary import configuration
from tests.helpers import synthetic_spec
from tests.memory_store import MemoryStore, MemoryTrials
from worker.engine.runner import (
    PREEMPT,
    Execution,
    TrialPolicy,
    execute_trial,
    finalize_job,
)
from worker.engine.synthetic import synthetic_test_scores

POLICY = TrialPolicy(lease_s=30, max_attempts=3, max_trial_time_s=60)


@pytest.fixture(autouse=True)
def _no_preemption() -> Iterator[None]:
    PREEMPT.clear()
    yield
    PREEMPT.clear()


def new_job(store: MemoryStore, trials: int = 3, epochs: int = 4) -> str:
    job_id = store.jobs.create("t1", load_spec(synthetic_spec(trials, sleep_s=0.0, epochs=epochs)))
    points = [{"learning_rate": 10 ** -(2 + n / 4), "units": 32 * (n + 1)} for n in range(trials)]
    store.trials.add(job_id, points)
    return job_id


def test_a_trial_runs_once_and_is_recorded_with_its_curves() -> None:
    store = MemoryStore()
    job_id = new_job(store)
    assert execute_trial(store, job_id, 0, "w1", POLICY) == Execution.RAN
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == TrialState.COMPLETED
    assert trial.value == trial.metrics["val_accuracy"] and trial.epochs == 4
    assert len(trial.history["val_accuracy"]) == 4
    job = store.jobs.get(job_id)
    assert (job.status, job.best_trial, job.trials_finished) == (JobStatus.RUNNING, 0, 1)
    assert execute_trial(store, job_id, 0, "w2", POLICY) == Execution.SKIPPED  # a redelivery


def test_a_trial_held_by_another_worker_is_left_to_it() -> None:
    store = MemoryStore()
    job_id = new_job(store)
    store.trials.claim(job_id, 0, "w1", lease_s=30)
    assert execute_trial(store, job_id, 0, "w2", POLICY) == Execution.BUSY
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.worker == "w1" and trial.state == TrialState.RUNNING


class CancelledAfterClaim(MemoryTrials):
    """The client cancels the job while the trial trains."""

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        claim = super().claim(*args, **kwargs)
        self.jobs.cancel(args[0])
        return claim


class LostAfterClaim(MemoryTrials):
    """Another worker takes the trial over (this one's lease expired while it stalled)."""

    def renew(self, *args: Any, **kwargs: Any) -> LeaseState:
        return LeaseState.LOST


@pytest.mark.parametrize(
    ("trials", "execution", "state"),
    [
        (CancelledAfterClaim, Execution.RAN, TrialState.CANCELLED),
        (LostAfterClaim, Execution.LOST, TrialState.RUNNING),
    ],
)
def test_a_trial_stops_at_its_next_epoch_when_told(
    trials: type[MemoryTrials], execution: Execution, state: TrialState
) -> None:
    store = MemoryStore()
    store.trials = trials(store.clock, store.jobs)
    store.jobs.trials = store.trials
    job_id = new_job(store)
    assert execute_trial(store, job_id, 0, "w1", POLICY) == execution
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == state
    assert trial.epochs <= 1  # it stopped after the first epoch reported


def test_a_preempted_trial_goes_back_to_the_queue() -> None:
    store = MemoryStore()
    job_id = new_job(store)
    PREEMPT.set()
    assert execute_trial(store, job_id, 0, "w1", POLICY) == Execution.PREEMPTED
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == TrialState.QUEUED
    assert (trial.attempt, trial.preemptions) == (0, 1)


class RecordUnreadable(MemoryTrials):
    """The trial was claimed, but its record cannot be read back."""

    def get(self, job_id: str, number: int) -> Any:
        return None


def test_a_trial_without_its_record_fails_instead_of_running() -> None:
    store = MemoryStore()
    store.trials = RecordUnreadable(store.clock, store.jobs)
    store.jobs.trials = store.trials
    job_id = new_job(store)
    assert execute_trial(store, job_id, 0, "w1", POLICY) == Execution.RAN
    trial = store.trials.records[(job_id, 0)]
    assert trial.state == TrialState.FAILED and "has no record" in (trial.error or "")


def run_all(store: MemoryStore, job_id: str) -> None:
    for trial in store.trials.list(job_id):
        assert execute_trial(store, job_id, trial.number, "w", POLICY) == Execution.RAN


def test_finalize_scores_the_best_trial_and_succeeds() -> None:
    store = MemoryStore()
    job_id = new_job(store)
    run_all(store, job_id)
    assert finalize_job(store, job_id) == JobStatus.SUCCEEDED
    job = store.jobs.get(job_id)
    best = store.trials.get(job_id, job.best_trial or 0)
    assert best is not None
    config = configuration(job.spec.fixed, best.params, job.spec.model.family, job.task)
    assert job.test_metrics == synthetic_test_scores(config)
    assert job.summary["trials_by_state"] == {"completed": 3}
    assert finalize_job(store, job_id) == JobStatus.SUCCEEDED  # a second finalizer: no change


def test_finalize_reads_the_best_trial_by_number_not_by_position() -> None:
    store = MemoryStore()
    job_id = new_job(store)
    run_all(store, job_id)
    store.jobs.update(job_id, best_trial=2)
    del store.trials.records[(job_id, 0)]  # a trial's record is gone: positions shift
    assert finalize_job(store, job_id) == JobStatus.SUCCEEDED
    job = store.jobs.get(job_id)
    trial = store.trials.get(job_id, 2)
    assert trial is not None
    config = configuration(job.spec.fixed, trial.params, job.spec.model.family, job.task)
    assert job.test_metrics == synthetic_test_scores(config)


def test_finalize_without_a_completed_trial_fails_with_the_first_error() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=1)
    claim = store.trials.claim(job_id, 0, "w", lease_s=30)
    failed = TrialOutcome(TrialState.FAILED, error="ValueError: boom")
    assert store.trials.finish(job_id, 0, claim.token, failed)
    assert finalize_job(store, job_id) == JobStatus.FAILED
    job = store.jobs.get(job_id)
    assert job.error == "no trial completed; first error: ValueError: boom"
    assert job.summary["trials_by_state"] == {"failed": 1}


def test_a_cancelled_job_stays_cancelled_through_finalization() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=1)
    run_all(store, job_id)
    store.jobs.cancel(job_id)
    assert finalize_job(store, job_id) == JobStatus.CANCELLED
    assert store.jobs.get(job_id).test_metrics == {}


def test_a_stopping_job_ships_its_best_and_ends_cancelled() -> None:
    """Cancel with the refit: no new trial, a finalization at once (not waiting for the trial
    still running), and the cancelled job has the test scores and summary of a finished one."""
    from worker.engine.scheduler import advance_job

    store = MemoryStore()
    job_id = new_job(store, trials=3)
    assert execute_trial(store, job_id, 0, "w", POLICY) == Execution.RAN
    still_running = store.trials.claim(job_id, 1, "w", lease_s=30)
    assert store.jobs.cancel(job_id, refit=True) == JobStatus.STOPPING
    step = advance_job(store, job_id, finalize_lease_s=60, send_trial=lambda *_: None)
    assert step.finalize and not step.dispatched
    assert finalize_job(store, job_id) == JobStatus.CANCELLED
    job = store.jobs.get(job_id)
    best = store.trials.get(job_id, 0)
    assert job.best_trial == 0 and best is not None
    config = configuration(job.spec.fixed, best.params, job.spec.model.family, job.task)
    assert job.test_metrics == synthetic_test_scores(config)
    assert job.summary["trials_by_state"] == {"completed": 1, "running": 1, "cancelled": 1}
    assert store.trials.renew(job_id, 1, still_running.token, 30) == LeaseState.CANCELLED


def test_a_job_cancelled_without_the_refit_during_its_wrap_up_stays_bare() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=2)
    assert execute_trial(store, job_id, 0, "w", POLICY) == Execution.RAN
    assert store.jobs.cancel(job_id, refit=True) == JobStatus.STOPPING
    assert store.jobs.cancel(job_id, refit=False) == JobStatus.CANCELLED
    assert finalize_job(store, job_id) == JobStatus.CANCELLED
    assert store.jobs.get(job_id).test_metrics == {}


def test_a_model_refit_for_a_job_cancelled_meanwhile_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``{"refit": false}`` arrives while the stopping job's best is being refit: the job ends
    bare, and the model saved for it is removed (it would be nobody's, and never expire)."""
    import worker.engine.runner as runner

    store = MemoryStore()
    job_id = new_job(store, trials=2)
    assert execute_trial(store, job_id, 0, "w", POLICY) == Execution.RAN
    assert store.jobs.cancel(job_id, refit=True) == JobStatus.STOPPING

    def refit_while_cancelled(*args: Any) -> tuple[dict[str, float], bytes]:
        assert store.jobs.cancel(job_id, refit=False) == JobStatus.CANCELLED
        return {"test_accuracy": 0.9}, b"model"

    monkeypatch.setattr(runner, "_refit", refit_while_cancelled)
    assert finalize_job(store, job_id) == JobStatus.CANCELLED
    assert store.models.saved == {} and store.jobs.get(job_id).test_metrics == {}
