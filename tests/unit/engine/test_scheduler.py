"""The scheduler's decisions (``plan_advance``, pure) and how they are applied (``advance_job``),
on the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

import worker.engine.scheduler as scheduler
from service.core.records import JobStatus, TrialState
from service.core.spec import Dimension, DimensionType, load_spec
from service.core.store import TrialOutcome
from tests.helpers import synthetic_spec
from tests.memory_store import MemoryStore
from worker.engine.optimizer import Observation
from worker.engine.scheduler import OUT_OF_TIME, Advance, advance_job, inside, plan_advance

LEASE_S = 30.0


def new_job(store: MemoryStore, trials: int = 4, parallelism: int = 2, **search: Any) -> str:
    body = synthetic_spec(trials, sleep_s=0.0)
    body["search"].update(parallelism=parallelism, **search)
    return store.jobs.create("t1", load_spec(body))


def advance(store: MemoryStore, job_id: str, sent: list[tuple[int, Any]] | None = None) -> Advance:
    sent = [] if sent is None else sent
    return advance_job(
        store,
        job_id,
        finalize_lease_s=60,
        send_trial=lambda number, limit: sent.append((number, limit)),
    )


def finish_all_running_or_queued(store: MemoryStore, job_id: str, value: float = 0.5) -> None:
    for trial in store.trials.list(job_id):
        if trial.state == TrialState.QUEUED:
            claim = store.trials.claim(job_id, trial.number, "w", LEASE_S)
            outcome = TrialOutcome(TrialState.COMPLETED, value=value, epochs=1)
            assert store.trials.finish(job_id, trial.number, claim.token, outcome)


def test_a_new_job_gets_as_many_trials_as_its_parallelism() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=4, parallelism=2)
    sent: list[tuple[int, Any]] = []
    step = advance(store, job_id, sent)
    assert step.dispatched == [0, 1] and not step.finalize
    assert [number for number, _ in sent] == [0, 1]
    trials = store.trials.list(job_id)
    assert all(t.dispatched_at is not None for t in trials)
    assert all(set(t.params) == {"learning_rate", "units"} for t in trials)


def test_nothing_new_while_every_slot_is_busy() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=4, parallelism=2)
    advance(store, job_id)
    assert advance(store, job_id) == Advance()
    assert len(store.trials.list(job_id)) == 2


def test_a_recorded_but_unsent_trial_is_sent_again_without_a_new_one() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=4, parallelism=1)
    store.trials.add(job_id, [{"learning_rate": 0.01, "units": 32}])  # an advance died here
    job, trials = store.jobs.get(job_id), store.trials.list(job_id)
    plan = plan_advance(job, trials, store.server_time())
    assert plan.resend == (0,) and plan.new_points == () and not plan.finalize
    assert advance(store, job_id).dispatched == [0]
    assert len(store.trials.list(job_id)) == 1


def test_time_limits_travel_with_each_trial() -> None:
    store = MemoryStore()
    body = synthetic_spec(2, sleep_s=0.0)
    body["training"].update(time_limit_s=30, hard_time_limit_s=45)
    job_id = store.jobs.create("t1", load_spec(body))
    sent: list[tuple[int, Any]] = []
    advance(store, job_id, sent)
    assert sent == [(0, 45)]


def test_finalization_once_the_budget_is_spent_and_nothing_runs() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=2, parallelism=2)
    advance(store, job_id)
    finish_all_running_or_queued(store, job_id)
    assert advance(store, job_id) == Advance(finalize=True)
    assert advance(store, job_id) == Advance()  # another advance: the claim is held
    assert store.jobs.get(job_id).stop_reason is None


def test_out_of_time_finalizes_early_with_its_reason() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=10, parallelism=1, max_duration_s=60)
    advance(store, job_id)
    finish_all_running_or_queued(store, job_id)
    store.clock.advance(61)
    plan = plan_advance(store.jobs.get(job_id), store.trials.list(job_id), store.server_time())
    assert plan.finalize and plan.stop_reason == OUT_OF_TIME and plan.new_points == ()
    assert advance(store, job_id) == Advance(finalize=True)
    assert store.jobs.get(job_id).stop_reason == OUT_OF_TIME
    assert len(store.trials.list(job_id)) == 1


def test_a_busy_lock_or_a_finished_job_does_nothing() -> None:
    store = MemoryStore()
    job_id = new_job(store)
    with store.locks.advance(job_id):
        assert advance(store, job_id) == Advance(busy=True)
    store.jobs.cancel(job_id)
    assert advance(store, job_id) == Advance()
    assert store.trials.list(job_id) == []


def test_inactive_names_are_left_out_of_new_trials() -> None:
    store = MemoryStore()
    body = synthetic_spec(3, sleep_s=0.0)
    body["search_space"] = {
        "optimizer": {"type": "categorical", "choices": ["adam"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9},  # only under sgd or rmsprop
    }
    job_id = store.jobs.create("t1", load_spec(body))
    advance(store, job_id)
    assert store.trials.list(job_id)[0].params == {"optimizer": "adam"}


def test_warm_start_learns_only_from_scored_trials_inside_the_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryStore()
    earlier = new_job(store, trials=3, parallelism=3)
    advance(store, earlier)
    finish_all_running_or_queued(store, earlier, value=0.9)
    store.jobs.set_status(earlier, JobStatus.SUCCEEDED, (JobStatus.RUNNING,))
    body = synthetic_spec(4, sleep_s=0.0)
    body["search"].update(strategy="bayesian", warm_start=[earlier, "f" * 32])
    later = store.jobs.create("t1", load_spec(body))
    seen: list[list[Observation]] = []

    def spy(
        job: Any, trials: Any, now: float, prior: Any = (), left: Any = None, ahead: Any = ()
    ) -> Any:
        seen.append(list(prior))
        return plan_advance(job, trials, now, prior, left, ahead)

    monkeypatch.setattr(scheduler, "plan_advance", spy)
    advance(store, later)
    assert [o.value for o in seen[0]] == [0.9, 0.9, 0.9]  # the missing job is skipped


def test_inside_the_space() -> None:
    spec = load_spec(synthetic_spec(2, sleep_s=0.0))
    space = spec.search_space
    assert inside(space, {"learning_rate": 0.01, "units": 32})
    assert inside(space, {"units": 32})  # an inactive name may be absent
    assert not inside(space, {"learning_rate": 0.5, "units": 32})
    assert not inside(space, {"learning_rate": 0.01, "units": 32, "dropout": 0.1})
    choices = {"activation": Dimension(DimensionType.CATEGORICAL, choices=("relu", "tanh"))}
    assert inside(choices, {"activation": "tanh"})
    assert not inside(choices, {"activation": "sigmoid"})


def test_a_spent_compute_budget_starts_nothing_and_finalizes_with_its_reason() -> None:
    store = MemoryStore()
    job_id = new_job(store, trials=4, parallelism=2)
    plan = plan_advance(store.jobs.get(job_id), [], store.server_time(), compute_left=0)
    assert plan.finalize and plan.stop_reason == scheduler.OUT_OF_BUDGET

    def step() -> Advance:
        return advance_job(
            store, job_id, finalize_lease_s=60, send_trial=lambda *_: None, daily_compute=100
        )

    store.usage.used["t1"] = 95
    assert step().dispatched == [0, 1]  # 5 left: it starts, and may go past by what runs
    finish_all_running_or_queued(store, job_id)
    assert store.usage.today("t1") == 97  # each trial's epoch counted when it finished
    store.usage.used["t1"] = 100
    assert step() == Advance(finalize=True)
    assert store.jobs.get(job_id).stop_reason == scheduler.OUT_OF_BUDGET
    assert len(store.trials.list(job_id)) == 2


def test_cancelled_trials_reach_the_search_marked_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    """They count where points are numbered; the surrogate leaves them out (test_optimizer)."""
    store = MemoryStore()
    job_id = new_job(store, trials=6, parallelism=1, strategy="bayesian", initial_points=2)
    for _ in range(3):
        advance(store, job_id)
        finish_all_running_or_queued(store, job_id, value=0.5)
    store.trials.add(job_id, [{"learning_rate": 0.01, "units": 32}])
    store.jobs.cancel(job_id)
    told: list[list[Observation]] = []

    class Spy:
        def suggest(self, finished: Any, pending: Any, n: int, prior: Any = ()) -> list[dict]:
            told.append(list(finished))
            return [{"learning_rate": 0.02, "units": 16}] * n

    monkeypatch.setattr(scheduler, "make_suggester", lambda spec: Spy())
    trials = store.trials.list(job_id)
    assert [t.state for t in trials][-1] == TrialState.CANCELLED
    plan_advance(store.jobs.get(job_id), trials, now=0.0)
    expected = [Observation(t.params, 0.5, complete=True) for t in trials[:3]]
    assert told == [[*expected, Observation(trials[3].params, None, cancelled=True)]]
