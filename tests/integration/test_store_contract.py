"""The job store's promises, checked against a real redis-server, and against the in-memory
store the engine's unit tests use, so that stand-in keeps the same contract."""

from __future__ import annotations

import dataclasses
import time

import pytest
import redis

from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.store import JobNotFound, JobStore, LeaseState, TrialOutcome, connect
from tests.helpers import stored_spec
from tests.memory_store import MemoryStore

pytestmark = pytest.mark.integration

ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest) -> JobStore | MemoryStore:
    """Each contract test runs on both stores (tests of Redis alone take ``redis_store``)."""
    if request.param == "memory":
        return MemoryStore()
    return JobStore(connect(request.getfixturevalue("settings").redis_url))


@pytest.fixture
def redis_store(settings: Settings) -> JobStore:
    return JobStore(connect(settings.redis_url))


def new_job(store: JobStore, max_trials: int = 3, direction: str = "max") -> str:
    return store.jobs.create("t1", stored_spec(max_trials, direction))


def done(value: float | None, state: TrialState = TrialState.COMPLETED) -> TrialOutcome:
    return TrialOutcome(state, value=value, metrics={"val_accuracy": value or 0.0}, epochs=2)


def test_new_job_is_queued_with_a_logged_status(store: JobStore) -> None:
    job = store.jobs.get(new_job(store))
    assert job.status == JobStatus.QUEUED
    assert [e.status for e in job.status_history] == ["queued"]
    assert (job.trials_created, job.trials_finished, job.best_trial) == (0, 0, None)
    with pytest.raises(JobNotFound):
        store.jobs.get("0" * 32)


def test_trials_never_exceed_the_budget(store: JobStore) -> None:
    job_id = new_job(store, max_trials=3)
    assert store.trials.add(job_id, [{"a": 1}, {"a": 2}]) == [0, 1]
    assert store.trials.add(job_id, [{"a": 3}, {"a": 4}]) == [2]
    assert store.trials.add(job_id, [{"a": 5}]) == []
    assert [t.params for t in store.trials.list(job_id)] == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_a_trial_is_claimed_once_while_its_lease_lives(store: JobStore) -> None:
    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}])
    first = store.trials.claim(job_id, 0, "w1", lease_s=30)
    second = store.trials.claim(job_id, 0, "w2", lease_s=30)
    assert first.claimed and first.attempt == 1
    assert second.outcome == "leased"
    assert store.jobs.get(job_id).status == JobStatus.RUNNING
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == TrialState.RUNNING and trial.worker == "w1"


def test_an_expired_lease_can_be_taken_over_and_the_old_holder_cannot_finish(
    store: JobStore,
) -> None:
    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}])
    old = store.trials.claim(job_id, 0, "w1", lease_s=0.05)
    time.sleep(0.1)
    new = store.trials.claim(job_id, 0, "w2", lease_s=30)
    assert new.claimed and new.attempt == 2
    assert not store.trials.renew(job_id, 0, old.token, 30)
    assert not store.trials.finish(job_id, 0, old.token, done(0.5))
    assert store.trials.finish(job_id, 0, new.token, done(0.7))
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.value == 0.7 and trial.attempt == 2


def test_a_trial_finishes_exactly_once_and_never_runs_again(store: JobStore) -> None:
    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}])
    claim = store.trials.claim(job_id, 0, "w1", lease_s=30)
    assert store.trials.finish(job_id, 0, claim.token, done(0.8))
    assert not store.trials.finish(job_id, 0, claim.token, done(0.9))
    assert store.trials.claim(job_id, 0, "w2", lease_s=30).outcome == "finished"
    job = store.jobs.get(job_id)
    assert job.trials_finished == 1 and job.best_value == 0.8


@pytest.mark.parametrize(("direction", "best"), [("max", 1), ("min", 2)])
def test_best_follows_the_direction_and_ignores_failures(
    store: JobStore, direction: str, best: int
) -> None:
    job_id = new_job(store, max_trials=4, direction=direction)
    store.trials.add(job_id, [{"a": n} for n in range(4)])
    outcomes = [done(0.5), done(0.9), done(0.1), done(None, TrialState.FAILED)]
    for n, outcome in enumerate(outcomes):
        claim = store.trials.claim(job_id, n, "w", lease_s=30)
        assert store.trials.finish(job_id, n, claim.token, outcome)
    job = store.jobs.get(job_id)
    assert job.best_trial == best and job.trials_finished == 4


def test_status_changes_are_guarded_and_finished_jobs_stay_finished(store: JobStore) -> None:
    job_id = new_job(store)
    assert store.jobs.set_status(job_id, JobStatus.RUNNING, ACTIVE)
    assert store.jobs.set_status(job_id, JobStatus.SUCCEEDED, ACTIVE)
    assert not store.jobs.set_status(job_id, JobStatus.FAILED, ACTIVE, error="late")
    job = store.jobs.get(job_id)
    assert job.status == JobStatus.SUCCEEDED and job.error is None
    assert [e.status for e in job.status_history] == ["queued", "running", "succeeded"]
    assert store.trials.add(job_id, [{"a": 1}]) == []


def test_a_finished_job_expires_after_its_retention(
    redis_store: JobStore, redis_client: redis.Redis
) -> None:
    job_id = new_job(redis_store)
    assert redis_client.ttl(f"tuneq:job:{{{job_id}}}") == -1  # kept while it runs
    assert redis_store.jobs.set_status(job_id, JobStatus.SUCCEEDED, ACTIVE)
    assert 0 < redis_client.ttl(f"tuneq:job:{{{job_id}}}") <= redis_store.jobs.retention_s


def test_the_advance_lock_has_one_holder(store: JobStore) -> None:
    job_id = new_job(store)
    with store.locks.advance(job_id) as first, store.locks.advance(job_id) as second:
        assert first and not second
    with store.locks.advance(job_id) as again:
        assert again


def test_points_made_ahead_are_replaced_whole_and_taken_from_the_front(
    store: JobStore,
) -> None:
    job_id = new_job(store)
    assert store.ahead.peek(job_id) == []
    assert store.ahead.put(job_id, 3, 5, [{"lr": 0.1}, {"lr": 0.2}, {"lr": 0.3}])
    first = store.ahead.peek(job_id)
    store.ahead.drop(job_id, first[0].batch, 1)
    assert [(p.basis, p.created, p.params) for p in store.ahead.peek(job_id)] == [
        (3, 5, {"lr": 0.2}),
        (3, 5, {"lr": 0.3}),
    ]
    assert store.ahead.put(job_id, 5, 6, [{"lr": 0.5}])  # a newer refill replaces the rest
    store.ahead.drop(job_id, first[0].batch, 1)  # read before it landed: removes nothing
    newer = store.ahead.peek(job_id)
    assert [(p.basis, p.params) for p in newer] == [(5, {"lr": 0.5})]
    assert newer[0].batch != first[0].batch
    store.ahead.drop(job_id, newer[0].batch, 4)  # more than is there: nothing left, no error
    assert store.ahead.peek(job_id) == []


def test_points_made_ahead_are_not_kept_for_a_job_that_stopped_searching(
    store: JobStore,
) -> None:
    job_id = new_job(store)
    assert store.ahead.put(job_id, 0, 2, [{"lr": 0.1}])
    assert store.jobs.set_status(job_id, JobStatus.SUCCEEDED, ACTIVE)
    assert store.ahead.peek(job_id) == []  # removed with the job's end
    assert not store.ahead.put(job_id, 1, 2, [{"lr": 0.2}])  # a refill that ended after it
    assert store.ahead.peek(job_id) == []


def test_one_refill_per_job_and_only_its_holder_ends_it(store: JobStore) -> None:
    job_id, other = new_job(store), new_job(store)
    token = store.ahead.claim_refill(job_id, ttl_s=30)
    assert token and store.ahead.claim_refill(job_id, ttl_s=30) is None
    assert store.ahead.claim_refill(other, ttl_s=30)
    store.ahead.release_refill(job_id, "not-the-token")
    assert store.ahead.claim_refill(job_id, ttl_s=30) is None
    store.ahead.release_refill(job_id, token)
    assert store.ahead.claim_refill(job_id, ttl_s=30)


def test_a_refill_lock_lapses_and_points_made_ahead_expire_and_go_with_the_job(
    redis_store: JobStore, redis_client: redis.Redis
) -> None:
    job_id = new_job(redis_store)
    assert redis_store.ahead.claim_refill(job_id, ttl_s=1.0)
    time.sleep(1.1)  # its holder died: the next advance may ask again
    assert redis_store.ahead.claim_refill(job_id, ttl_s=30)
    redis_store.ahead.put(job_id, 0, 1, [{"lr": 0.1}])
    assert redis_client.ttl(f"tuneq:job:{{{job_id}}}:ahead") > 0
    redis_store.jobs.delete(job_id)
    assert not redis_client.exists(f"tuneq:job:{{{job_id}}}:ahead")
    assert not redis_client.exists(f"tuneq:job:{{{job_id}}}:refill")


def test_a_lost_trial_fails_after_max_attempts(store: JobStore) -> None:
    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}])
    for attempt in (1, 2):
        claim = store.trials.claim(job_id, 0, "w", lease_s=0.01, max_attempts=2)
        assert claim.claimed and claim.attempt == attempt
        time.sleep(0.03)
    final = store.trials.claim(job_id, 0, "w", lease_s=30, max_attempts=2)
    assert final.outcome == "exhausted"
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == TrialState.FAILED and "2 attempts" in trial.error
    assert store.jobs.get(job_id).trials_finished == 1


def test_a_preempted_trial_goes_back_to_the_queue_without_using_an_attempt(
    store: JobStore,
) -> None:
    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}])
    claim = store.trials.claim(job_id, 0, "w1", lease_s=30)
    assert store.trials.release(job_id, 0, claim.token)
    again = store.trials.claim(job_id, 0, "w2", lease_s=30)
    assert again.claimed and again.attempt == 1
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.preemptions == 1


def test_cancel_stops_queued_trials_and_tells_running_ones(store: JobStore) -> None:
    job_id = new_job(store, max_trials=3)
    store.trials.add(job_id, [{"a": 1}, {"a": 2}])
    running = store.trials.claim(job_id, 0, "w", lease_s=30)
    assert store.jobs.cancel(job_id) == JobStatus.CANCELLED
    assert store.jobs.cancel(job_id) == JobStatus.CANCELLED  # idempotent
    assert store.trials.renew(job_id, 0, running.token, 30) == LeaseState.CANCELLED
    queued = store.trials.get(job_id, 1)
    assert queued is not None and queued.state == TrialState.CANCELLED
    assert store.trials.claim(job_id, 1, "w", lease_s=30).outcome == "job_finished"
    assert store.trials.add(job_id, [{"a": 3}]) == []
    assert job_id not in store.jobs.active_ids()
    done_id = new_job(store)
    store.jobs.set_status(done_id, JobStatus.SUCCEEDED, ACTIVE)
    assert store.jobs.cancel(done_id) == JobStatus.SUCCEEDED


def test_cancel_with_the_best_to_ship_stops_the_search_and_keeps_the_job_active(
    store: JobStore,
) -> None:
    job_id = new_job(store, max_trials=4)
    store.trials.add(job_id, [{"a": 1}, {"a": 2}, {"a": 3}])
    first = store.trials.claim(job_id, 0, "w", lease_s=30)
    assert store.trials.finish(job_id, 0, first.token, done(0.8))
    running = store.trials.claim(job_id, 1, "w", lease_s=30)
    assert store.jobs.cancel(job_id, refit=True) == JobStatus.STOPPING
    assert store.jobs.cancel(job_id, refit=True) == JobStatus.STOPPING  # idempotent
    assert store.trials.renew(job_id, 1, running.token, 30) == LeaseState.CANCELLED
    queued = store.trials.get(job_id, 2)
    assert queued is not None and queued.state == TrialState.CANCELLED
    assert store.trials.claim(job_id, 2, "w", lease_s=30).outcome == "job_finished"
    assert store.trials.add(job_id, [{"a": 4}]) == []
    assert job_id in store.jobs.active_ids()  # for its finalization, and the sweep
    # the trial still running ends better: the best shipped stays the best
    assert store.trials.finish(job_id, 1, running.token, done(0.99))
    assert store.jobs.get(job_id).best_trial == 0
    assert store.jobs.statuses([job_id, "gone"]) == {job_id: JobStatus.STOPPING}
    assert store.jobs.get(job_id).stop_reason == "cancelled by the client"
    # the finalization ends it cancelled, with its results
    assert not store.jobs.set_status(job_id, JobStatus.SUCCEEDED, ACTIVE)
    assert store.jobs.set_status(
        job_id, JobStatus.CANCELLED, (JobStatus.STOPPING,), test_metrics={"test_accuracy": 0.7}
    )
    assert store.jobs.get(job_id).test_metrics == {"test_accuracy": 0.7}
    assert job_id not in store.jobs.active_ids()


def test_cancel_without_a_best_or_without_the_refit_ends_the_job_at_once(
    store: JobStore,
) -> None:
    nothing_yet = new_job(store)
    assert store.jobs.cancel(nothing_yet, refit=True) == JobStatus.CANCELLED
    stopping = new_job(store)
    store.trials.add(stopping, [{"a": 1}])
    claim = store.trials.claim(stopping, 0, "w", lease_s=30)
    assert store.trials.finish(stopping, 0, claim.token, done(0.8))
    assert store.jobs.cancel(stopping, refit=True) == JobStatus.STOPPING
    assert store.jobs.cancel(stopping, refit=False) == JobStatus.CANCELLED  # skip the refit
    assert stopping not in store.jobs.active_ids()


def test_no_trial_starts_after_max_duration(store: JobStore) -> None:
    job_id = store.jobs.create("t1", stored_spec(3, max_duration_s=0.05))
    store.trials.add(job_id, [{"a": 1}])
    time.sleep(0.1)
    assert store.trials.claim(job_id, 0, "w", lease_s=30).outcome == "expired"
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == TrialState.CANCELLED


def test_finalization_is_leased(store: JobStore) -> None:
    job_id = new_job(store)
    assert store.jobs.claim_finalize(job_id, 0.05)
    assert not store.jobs.claim_finalize(job_id, 0.05)
    time.sleep(0.1)
    assert store.jobs.claim_finalize(job_id, 0.05)  # the first finalizer died: another may go
    assert store.jobs.renew_finalize(job_id, 0.3)  # a live finalizer keeps it
    time.sleep(0.1)
    assert not store.jobs.claim_finalize(job_id, 0.05)
    time.sleep(0.3)
    assert not store.jobs.renew_finalize(job_id, 0.3)  # lapsed: it may be another's now
    assert store.jobs.claim_finalize(job_id, 30)
    store.jobs.release_finalize(job_id)  # the job is not finished: the lease stays
    assert not store.jobs.claim_finalize(job_id, 30)
    store.jobs.set_status(job_id, JobStatus.CANCELLED, (JobStatus.QUEUED,))
    store.jobs.claim_finalize(job_id, 30)  # a finalizer that started before the cancel
    store.jobs.release_finalize(job_id)  # ... finds the job finished by someone else
    assert store.jobs.claim_finalize(job_id, 30)


def test_read_job_is_the_job_its_best_trial_and_the_key_in_one_read(
    redis_store: JobStore,
) -> None:
    store = redis_store
    from service.core.apikeys import digest

    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}, {"a": 2}])
    empty = store.jobs.read(job_id)
    assert empty.job == store.jobs.get(job_id) and empty.best is None
    assert (empty.key_digest, empty.key_tenant) == (None, None)

    for number, value in ((0, 0.7), (1, 0.9)):
        claim = store.trials.claim(job_id, number, "w", lease_s=30)
        outcome = dataclasses.replace(done(value), history={"loss": [1.0]})
        store.trials.finish(job_id, number, claim.token, outcome)
    _, key = store.api_keys.create("t1")
    read = store.jobs.read(job_id, digest(key))
    assert read.job == store.jobs.get(job_id)
    best = store.trials.get(job_id, 1)
    assert best is not None and best.history == {"loss": (1.0,)}  # read-only: tuples
    assert read.best is not None and read.best.history == {}  # the view shows no curves
    assert vars(read.best) == {**vars(best), "history": {}}
    assert (read.key_digest, read.key_tenant) == (digest(key), "t1")

    unknown = store.jobs.read("0" * 32, digest("tq_unknown"))
    assert (unknown.job, unknown.best, unknown.key_digest, unknown.key_tenant) == (None,) * 4
    assert unknown.tag == "" and not unknown.unchanged

    # With the tag of the last read: nothing sent back while nothing changed, the key still
    # checked; any change to the job, its status log or its best trial makes a new tag.
    again = store.jobs.read(job_id, digest(key), None, read.tag)
    assert again.unchanged and again.job is None and again.best is None
    assert (again.tag, again.key_tenant) == (read.tag, "t1")
    store.jobs.set_stop_reason(job_id, "budget")
    changed = store.jobs.read(job_id, None, None, read.tag)
    assert not changed.unchanged and changed.job is not None and changed.tag != read.tag
    assert changed.job.stop_reason == "budget"
    assert not store.jobs.read(job_id, None, None, "f" * 40).unchanged


def test_the_fleets_demand_counts_live_leases_only(redis_store: JobStore) -> None:
    store = redis_store
    job_id = new_job(store)
    store.trials.add(job_id, [{"a": 1}, {"a": 2}])
    assert store.stats.demand().running == 0
    held = store.trials.claim(job_id, 0, "w1", lease_s=30)
    lost = store.trials.claim(job_id, 1, "w2", lease_s=0.05)
    assert store.stats.demand().running == 2
    time.sleep(0.1)  # w2 died: its lease ran out
    assert store.stats.demand().running == 1
    assert store.trials.finish(job_id, 0, held.token, done(0.5))
    assert store.stats.demand().running == 0
    assert store.jobs.claim_finalize(job_id, 30)
    assert store.stats.demand().running == 1  # a finalization holds a worker too
    assert store.jobs.set_status(job_id, JobStatus.SUCCEEDED, ACTIVE)
    assert store.stats.demand().running == 0
    assert lost.claimed
