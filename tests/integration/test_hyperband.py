"""Hyperband and BOHB through the API on real Redis and Celery, two trials at a time: trials run
in their brackets, stop only at their bracket's rungs, the best of a bracket is never stopped,
BOHB's surrogate takes over after the initial points, and an extended job opens the next round."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from service.core.records import JobRecord, JobStatus, TrialRecord, TrialState
from service.core.settings import Settings
from service.core.spec import HyperbandSpec
from service.core.spec.brackets import bracket_of, brackets
from service.core.store import JobStore
from tests.helpers import Workers, api_client, synthetic_spec, wait_job
from worker.engine.space import center_point
from worker.engine.synthetic import synthetic_score

pytestmark = pytest.mark.integration

LAYOUT = brackets(9, HyperbandSpec(min_epochs=1, reduction_factor=3))  # sizes 9, 5, 3
FULL = [n for n in range(17) if bracket_of(n, LAYOUT).index == 0]  # 3, 9, 14: no rungs


def hyperband_spec(strategy: str, trials: int, sleep_s: float) -> dict[str, Any]:
    spec = synthetic_spec(trials=trials, sleep_s=sleep_s, epochs=9)
    spec["search_space"]["learning_rate"]["low"] = 1e-7  # many hopeless configurations
    spec["search"].update(strategy=strategy, parallelism=2, initial_points=4)
    return spec


def score(job: JobRecord, trial: TrialRecord) -> float:
    return synthetic_score(job.spec.configuration(trial.params))


def assert_ran_in_brackets(job: JobRecord, trials: Sequence[TrialRecord]) -> None:
    """Every trial trained to a rung of its bracket (stopped there) or to the end, and the best
    configuration of each bracket was never stopped: synthetic curves rank configurations the
    same at every epoch, so it led at every rung whatever the order the trials reached it."""
    assert job.status == JobStatus.SUCCEEDED, job.error
    for trial in trials:
        bracket = bracket_of(trial.number, LAYOUT)
        if trial.state == TrialState.PRUNED:
            assert trial.epochs in bracket.rungs, (trial.number, trial.epochs, bracket)
        else:
            assert trial.state == TrialState.COMPLETED and trial.epochs == 9, trial
    for bracket in LAYOUT:
        own = [t for t in trials if bracket_of(t.number, LAYOUT) == bracket]
        if own:
            leader = max(own, key=lambda t: score(job, t))
            assert leader.state == TrialState.COMPLETED, (bracket, leader)
    done = [t for t in trials if t.value is not None and t.state == TrialState.COMPLETED]
    assert job.best_trial == max(done, key=lambda t: t.value or 0.0).number


def test_hyperband_and_bohb_run_their_brackets(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1", concurrency=2)
    client = api_client(fast_settings)
    jobs: dict[str, tuple[JobRecord, list[TrialRecord]]] = {}
    for strategy in ("hyperband", "bohb"):
        response = client.post("/v1/jobs", json=hyperband_spec(strategy, 17, sleep_s=0.3))
        assert response.status_code == 202, response.get_json()
        job = wait_job(store, response.get_json()["id"], timeout_s=180)
        trials = store.trials.list(job.id)
        assert [t.number for t in trials] == list(range(17))
        assert_ran_in_brackets(job, trials)
        jobs[strategy] = (job, trials)

    job, trials = jobs["hyperband"]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert any(t.epochs == 1 for t in pruned), "the first bracket judged nobody at epoch 1"
    last = [t for t in trials if bracket_of(t.number, LAYOUT).index == 0]
    assert len(last) == 3 and all(t.state == TrialState.COMPLETED for t in last)  # no rungs
    rows = job.summary["brackets"]
    assert [(r["bracket"], r["trials"], r["rungs"]) for r in rows] == [
        (2, 9, [1, 3]),
        (1, 5, [3]),
        (0, 3, []),
    ]
    assert sum(r["pruned"] for r in rows) == len(pruned) == job.summary["pruned_trials"]
    assert job.summary["epochs_saved_by_pruning"] == sum(9 - t.epochs for t in pruned) > 0

    bohb, bohb_trials = jobs["bohb"]
    assert bohb.spec.search.n_initial_points == 4
    # BOHB's design starts at the middle of the space, then the same seed draws the same
    # random points as Hyperband; after them BOHB's model chooses
    assert bohb_trials[0].params == center_point(bohb.spec.search_space) != trials[0].params
    assert [t.params for t in bohb_trials[1:4]] == [t.params for t in trials[1:4]]
    assert [t.params for t in bohb_trials[4:]] != [t.params for t in trials[4:]]

    extended = client.post(f"/v1/jobs/{job.id}/extend", json={"trials": 3})
    assert extended.status_code == 202, extended.get_json()
    again = wait_job(store, job.id, timeout_s=120)
    more = store.trials.list(job.id)
    assert [t.number for t in more] == list(range(20))
    assert [t.params for t in more[:17]] == [t.params for t in trials]  # history kept
    assert_ran_in_brackets(again, more)  # 17-19 open the next round: brackets 2, 1, 2
    assert [r["trials"] for r in again.summary["brackets"]] == [11, 6, 3]
