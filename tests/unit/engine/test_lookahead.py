"""Parallel Bayesian jobs take surrogate points made ahead by a refill, on the in-memory store:
``advance`` never fits the surrogate itself, asks for one refill at a time, and a job with
parallelism 1 keeps computing its next point in ``advance`` from every result."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.records import TrialState
from service.core.spec import load_spec
from service.core.store import TrialOutcome
from service.core.store.ahead import AheadPoint
from tests.helpers import synthetic_spec
from tests.memory_store import MemoryStore
from worker.engine import lookahead
from worker.engine.optimizer import BayesianSearch, Observation
from worker.engine.scheduler import Advance, advance_job, refill_job

LEASE_S = 30.0


def bayesian_job(store: MemoryStore, trials: int = 9, parallelism: int = 3) -> str:
    body = synthetic_spec(trials, sleep_s=0.0)
    body["search"].update(strategy="bayesian", parallelism=parallelism, initial_points=3)
    return store.jobs.create("t1", load_spec(body))


def advance(store: MemoryStore, job_id: str, refills: list[str]) -> Advance:
    return advance_job(
        store,
        job_id,
        finalize_lease_s=60,
        send_trial=lambda number, limit: None,
        send_refill=refills.append,
    )


def finish(store: MemoryStore, job_id: str, number: int, value: float) -> None:
    claim = store.trials.claim(job_id, number, "w", LEASE_S)
    outcome = TrialOutcome(TrialState.COMPLETED, value=value, epochs=1)
    assert store.trials.finish(job_id, number, claim.token, outcome)


@pytest.fixture
def no_fit_in_advance(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts surrogate fits; ``advance`` must leave the count alone."""
    fits: list[int] = []
    real = BayesianSearch._ask

    def counted(self: BayesianSearch, *args: Any) -> Any:
        fits.append(1)
        return real(self, *args)

    monkeypatch.setattr(BayesianSearch, "_ask", counted)
    return fits


def test_advance_takes_points_made_ahead_and_never_fits(no_fit_in_advance: list[int]) -> None:
    store, refills = MemoryStore(), []
    job_id = bayesian_job(store, trials=20)
    assert advance(store, job_id, refills).dispatched == [0, 1, 2]  # the initial design
    assert refills == []  # nothing to fit on yet
    finish(store, job_id, 0, 0.6)
    finish(store, job_id, 1, 0.7)
    step = advance(store, job_id, refills)
    assert step.dispatched == [] and step.refill_sent and len(refills) == 1
    assert no_fit_in_advance == []

    assert refill_job(store, job_id) == 6  # two batches of `parallelism` points, basis 2
    assert no_fit_in_advance == [1]
    made = store.ahead.peek(job_id)
    assert [p.basis for p in made] == [2] * 6
    store.ahead.release_refill(job_id, refills[0])

    step = advance(store, job_id, refills)
    trials = store.trials.list(job_id)
    assert step.dispatched == [3, 4]
    assert [t.params for t in trials[3:]] == [dict(p.params) for p in made[:2]]
    assert store.ahead.peek(job_id) == made[2:]
    assert step.refill_sent and len(refills) == 2  # four left, two batches wanted: refill
    assert no_fit_in_advance == [1]


def test_one_refill_at_a_time() -> None:
    store, refills = MemoryStore(), []
    job_id = bayesian_job(store)
    advance(store, job_id, refills)
    finish(store, job_id, 0, 0.6)
    finish(store, job_id, 1, 0.7)
    assert advance(store, job_id, refills).refill_sent
    finish(store, job_id, 2, 0.8)
    assert not advance(store, job_id, refills).refill_sent  # the first is still out
    assert len(refills) == 1


def test_a_refill_sees_every_finished_trial_and_tells_running_ones_as_lies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store, refills = MemoryStore(), []
    job_id = bayesian_job(store, trials=6)
    advance(store, job_id, refills)
    finish(store, job_id, 0, 0.6)
    finish(store, job_id, 1, 0.7)
    seen: list[tuple[list[Any], list[Any], int]] = []
    real = BayesianSearch.ask_ahead

    def spy(self: BayesianSearch, finished: Any, pending: Any, n: int, prior: Any = ()) -> Any:
        seen.append(([o.value for o in finished], list(pending), n))
        return real(self, finished, pending, n, prior)

    monkeypatch.setattr(BayesianSearch, "ask_ahead", spy)
    assert refill_job(store, job_id) == 3  # the budget's last three
    assert seen == [([0.6, 0.7], [store.trials.list(job_id)[2].params], 3)]
    assert advance(store, job_id, []).dispatched == [3, 4]
    finish(store, job_id, 2, 0.8)
    assert advance(store, job_id, []).dispatched == [5]  # six created: the budget
    assert refill_job(store, job_id) == 0  # nothing more to make
    assert store.ahead.peek(job_id) == []


def test_refills_store_points_as_trials_store_them() -> None:
    """Inactive names are left out (``momentum`` without SGD), as in a trial's params, so a
    stored point that is running already is recognised."""
    store = MemoryStore()
    body = synthetic_spec(12, sleep_s=0.0)
    body["search_space"] = {
        "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.9},
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    }
    body["search"].update(strategy="bayesian", parallelism=3, initial_points=3)
    job_id = store.jobs.create("t1", load_spec(body))
    advance(store, job_id, [])
    finish(store, job_id, 0, 0.6)
    finish(store, job_id, 1, 0.7)
    refill_job(store, job_id)
    made = [p.params for p in store.ahead.peek(job_id)]
    assert made and all(("momentum" in p) == (p["optimizer"] == "sgd") for p in made)


def test_parallelism_one_computes_in_advance_from_every_result(
    no_fit_in_advance: list[int],
) -> None:
    store, refills = MemoryStore(), []
    job_id = bayesian_job(store, trials=5, parallelism=1)
    for number in range(4):
        assert advance(store, job_id, refills).dispatched == [number]
        finish(store, job_id, number, 0.5 + number / 10)
    assert advance(store, job_id, refills).dispatched == [4]
    assert no_fit_in_advance == [1, 1]  # trials 3 and 4 came from the surrogate, in advance
    assert refills == [] and store.ahead.peek(job_id) == []
    assert refill_job(store, job_id) == 0


def gp_search() -> BayesianSearch:
    spec = load_spec(synthetic_spec(20, sleep_s=0.0))
    return BayesianSearch(
        spec.search_space, seed=1, n_initial=2, surrogate="GP", acquisition="EI",
        metric="val_accuracy", direction="max",
    )  # fmt: skip


def made(basis: int, created: int, *units: int) -> list[AheadPoint]:
    return [AheadPoint("b1", basis, created, {"learning_rate": 0.01, "units": u}) for u in units]


def test_points_made_too_long_ago_are_dropped() -> None:
    search = gp_search()
    finished = [Observation(p, 0.5 + i / 100) for i, p in enumerate(search.suggest([], [], 8))]
    taken = lookahead.take(search, finished, [], 2, 12, made(1, 1, 32, 33), parallelism=2)
    assert taken.points == [] and taken.drop == 2 and taken.refill  # 7 finished since basis 1
    taken = lookahead.take(search, finished, [], 2, 12, made(6, 8, 32, 33, 34, 35, 36), 2)
    assert [p["units"] for p in taken.points] == [32, 33]
    assert taken.drop == 2 and taken.batch == "b1"
    assert taken.refill  # three left against two batches of two


def test_a_point_its_refill_did_not_know_of_is_skipped_and_a_known_one_may_run_again() -> None:
    """Two refills from one state make the same points: the second's are passed over where
    the first's were created since (running or finished). A point equal to a trial the refill
    knew of may come again, as from ``suggest`` (a small space runs out of new points), so a
    batch never keeps a job waiting for points it will not hand out."""
    search = gp_search()
    finished = [Observation(p, 0.5 + i / 100) for i, p in enumerate(search.suggest([], [], 4))]
    since = [{"learning_rate": 0.01, "units": 40}, {"learning_rate": 0.01, "units": 42}]
    created = [*(o.params for o in finished), *since]  # trials 4 and 5 came after the batch
    finished_since = [*finished, Observation(since[1], 0.6)]
    ahead = [*made(4, 4, 40, 41, 42), AheadPoint("b1", 4, 4, dict(finished[0].params))]
    taken = lookahead.take(
        search, finished_since, [since[0]], 3, 12, ahead, parallelism=4, created=created
    )
    assert taken.points == [{"learning_rate": 0.01, "units": 41}, dict(finished[0].params)]
    assert taken.drop == 4
