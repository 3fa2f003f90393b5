"""The job store's promises, checked against a real redis-server."""

from __future__ import annotations

import dataclasses
import time

import pytest

from service.core.records import JobStatus, TrialState
from service.core.store import JobNotFound, JobStore, LeaseState, TrialOutcome

pytestmark = pytest.mark.integration

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


def new_job(store: JobStore, max_trials: int = 3, direction: str = "max") -> str:
    return store.create_job(
        tenant="t1", name="job", spec={"training": {}}, max_trials=max_trials, direction=direction
    )


def done(value: float | None, state: TrialState = TrialState.COMPLETED) -> TrialOutcome:
    return TrialOutcome(state, value=value, metrics={"val_accuracy": value or 0.0}, epochs=2)


def test_new_job_is_queued_with_a_logged_status(store: JobStore) -> None:
    job = store.get_job(new_job(store))
    assert job.status == JobStatus.QUEUED
    assert [e["status"] for e in job.status_history] == ["queued"]
    assert (job.trials_created, job.trials_finished, job.best_trial) == (0, 0, None)
    with pytest.raises(JobNotFound):
        store.get_job("0" * 32)


def test_trials_never_exceed_the_budget(store: JobStore) -> None:
    job_id = new_job(store, max_trials=3)
    assert store.add_trials(job_id, [{"a": 1}, {"a": 2}]) == [0, 1]
    assert store.add_trials(job_id, [{"a": 3}, {"a": 4}]) == [2]
    assert store.add_trials(job_id, [{"a": 5}]) == []
    assert [t.params for t in store.list_trials(job_id)] == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_a_trial_is_claimed_once_while_its_lease_lives(store: JobStore) -> None:
    job_id = new_job(store)
    store.add_trials(job_id, [{"a": 1}])
    first = store.claim_trial(job_id, 0, "w1", lease_s=30)
    second = store.claim_trial(job_id, 0, "w2", lease_s=30)
    assert first.claimed and first.attempt == 1
    assert second.outcome == "leased"
    assert store.get_job(job_id).status == JobStatus.RUNNING
    trial = store.get_trial(job_id, 0)
    assert trial is not None and trial.state == TrialState.RUNNING and trial.worker == "w1"


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_cannot_finish(
    store: JobStore,
) -> None:
    job_id = new_job(store)
    store.add_trials(job_id, [{"a": 1}])
    old = store.claim_trial(job_id, 0, "w1", lease_s=0.05)
    time.sleep(0.1)
    new = store.claim_trial(job_id, 0, "w2", lease_s=30)
    assert new.claimed and new.attempt == 2
    assert not store.renew_lease(job_id, 0, old.token, 30)
    assert not store.finish_trial(job_id, 0, old.token, done(0.5))
    assert store.finish_trial(job_id, 0, new.token, done(0.7))
    trial = store.get_trial(job_id, 0)
    assert trial is not None and trial.value == 0.7 and trial.attempt == 2


def test_a_trial_finishes_exactly_once_and_never_runs_again(store: JobStore) -> None:
    job_id = new_job(store)
    store.add_trials(job_id, [{"a": 1}])
    claim = store.claim_trial(job_id, 0, "w1", lease_s=30)
    assert store.finish_trial(job_id, 0, claim.token, done(0.8))
    assert not store.finish_trial(job_id, 0, claim.token, done(0.9))
    assert store.claim_trial(job_id, 0, "w2", lease_s=30).outcome == "finished"
    job = store.get_job(job_id)
    assert job.trials_finished == 1 and job.best_value == 0.8


@pytest.mark.parametrize(("direction", "best"), [("max", 1), ("min", 2)])
def test_best_follows_the_direction_and_ignores_failures(
    store: JobStore, direction: str, best: int
) -> None:
    job_id = new_job(store, max_trials=4, direction=direction)
    store.add_trials(job_id, [{"a": n} for n in range(4)])
    outcomes = [done(0.5), done(0.9), done(0.1), done(None, TrialState.FAILED)]
    for n, outcome in enumerate(outcomes):
        claim = store.claim_trial(job_id, n, "w", lease_s=30)
        assert store.finish_trial(job_id, n, claim.token, outcome)
    job = store.get_job(job_id)
    assert job.best_trial == best and job.trials_finished == 4


def test_status_changes_are_guarded_and_finished_jobs_stay_finished(store: JobStore) -> None:
    job_id = new_job(store)
    assert store.set_status(job_id, JobStatus.RUNNING, ACTIVE)
    assert store.set_status(job_id, JobStatus.SUCCEEDED, ACTIVE)
    assert not store.set_status(job_id, JobStatus.FAILED, ACTIVE, error="late")
    job = store.get_job(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.error is None
    assert [e["status"] for e in job.status_history] == ["queued", "running", "succeeded"]
    assert store.add_trials(job_id, [{"a": 1}]) == []
    assert 0 < store.redis.ttl(f"tuneq:job:{{{job_id}}}") <= store.retention_s


def test_the_advance_lock_has_one_holder(store: JobStore) -> None:
    job_id = new_job(store)
    with store.advance_lock(job_id) as first, store.advance_lock(job_id) as second:
        assert first and not second
    with store.advance_lock(job_id) as again:
        assert again


def test_a_lost_trial_fails_after_max_attempts(store: JobStore) -> None:
    job_id = new_job(store)
    store.add_trials(job_id, [{"a": 1}])
    for attempt in (1, 2):
        claim = store.claim_trial(job_id, 0, "w", lease_s=0.01, max_attempts=2)
        assert claim.claimed and claim.attempt == attempt
        time.sleep(0.03)
    final = store.claim_trial(job_id, 0, "w", lease_s=30, max_attempts=2)
    assert final.outcome == "exhausted"
    trial = store.get_trial(job_id, 0)
    assert trial is not None and trial.state == TrialState.FAILED and "2 attempts" in trial.error
    assert store.get_job(job_id).trials_finished == 1


def test_a_preempted_trial_goes_back_to_the_queue_without_using_an_attempt(
    store: JobStore,
) -> None:
    job_id = new_job(store)
    store.add_trials(job_id, [{"a": 1}])
    claim = store.claim_trial(job_id, 0, "w1", lease_s=30)
    assert store.release_trial(job_id, 0, claim.token)
    again = store.claim_trial(job_id, 0, "w2", lease_s=30)
    assert again.claimed and again.attempt == 1
    trial = store.get_trial(job_id, 0)
    assert trial is not None and trial.preemptions == 1


def test_cancel_stops_queued_trials_and_tells_running_ones(store: JobStore) -> None:
    job_id = new_job(store, max_trials=3)
    store.add_trials(job_id, [{"a": 1}, {"a": 2}])
    running = store.claim_trial(job_id, 0, "w", lease_s=30)
    assert store.cancel_job(job_id) == JobStatus.CANCELLED
    assert store.cancel_job(job_id) == JobStatus.CANCELLED  # idempotent
    assert store.renew_lease(job_id, 0, running.token, 30) == LeaseState.CANCELLED
    queued = store.get_trial(job_id, 1)
    assert queued is not None and queued.state == TrialState.CANCELLED
    assert store.claim_trial(job_id, 1, "w", lease_s=30).outcome == "job_finished"
    assert store.add_trials(job_id, [{"a": 3}]) == []
    assert job_id not in store.active_job_ids()
    done_id = new_job(store)
    store.set_status(done_id, JobStatus.SUCCEEDED, ACTIVE)
    assert store.cancel_job(done_id) == JobStatus.SUCCEEDED


def test_no_trial_starts_after_max_duration(store: JobStore) -> None:
    job_id = store.create_job(
        tenant="t1", name="job", spec={}, max_trials=3, direction="max", max_duration_s=0.05
    )
    store.add_trials(job_id, [{"a": 1}])
    time.sleep(0.1)
    assert store.claim_trial(job_id, 0, "w", lease_s=30).outcome == "expired"
    trial = store.get_trial(job_id, 0)
    assert trial is not None and trial.state == TrialState.CANCELLED


def test_finalization_is_leased(store: JobStore) -> None:
    job_id = new_job(store)
    assert store.claim_finalize(job_id, 0.05)
    assert not store.claim_finalize(job_id, 0.05)
    time.sleep(0.1)
    assert store.claim_finalize(job_id, 0.05)  # the first finalizer died: another may go


def test_read_job_is_the_job_its_best_trial_and_the_key_in_one_read(store: JobStore) -> None:
    from service.core.apikeys import KeyStore, digest

    job_id = new_job(store)
    store.add_trials(job_id, [{"a": 1}, {"a": 2}])
    empty = store.read_job(job_id)
    assert empty.job == store.get_job(job_id) and empty.best is None
    assert (empty.key_digest, empty.key_tenant) == (None, None)

    for number, value in ((0, 0.7), (1, 0.9)):
        claim = store.claim_trial(job_id, number, "w", lease_s=30)
        outcome = dataclasses.replace(done(value), history={"loss": [1.0]})
        store.finish_trial(job_id, number, claim.token, outcome)
    _, key = KeyStore(store.redis).create("t1")
    read = store.read_job(job_id, digest(key))
    assert read.job == store.get_job(job_id)
    best = store.get_trial(job_id, 1)
    assert best is not None and best.history == {"loss": [1.0]}
    assert read.best is not None and read.best.history == {}  # the view shows no curves
    assert vars(read.best) == {**vars(best), "history": {}}
    assert (read.key_digest, read.key_tenant) == (digest(key), "t1")

    unknown = store.read_job("0" * 32, digest("tq_unknown"))
    assert (unknown.job, unknown.best, unknown.key_digest, unknown.key_tenant) == (None,) * 4
