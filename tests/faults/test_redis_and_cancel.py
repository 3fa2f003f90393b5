"""A Redis killed mid-job and restarted from its append-only file; cancellation mid-trial, and
cancellation that ships the best so far (with a worker killed while it does); pruning that
saves epochs without changing the best found."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.store import JobStore, connect
from service.devstack import free_port, start_redis, stop_process
from tests.helpers import Workers, api_client, synthetic_spec, wait_job, wait_running

pytestmark = pytest.mark.integration


def test_kill_9_of_an_aof_redis_mid_job(
    fast_settings: Settings, tmp_path: Path, workers: Workers
) -> None:
    port = free_port()
    data = tmp_path / "redis-data"
    redis_proc = start_redis(port, data)
    settings = dataclasses.replace(
        fast_settings, redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_s=1.0
    )
    store = JobStore(connect(settings.redis_url, timeout_s=1.0))
    client = api_client(settings)
    try:
        workers.start("w1", settings=settings)
        job_id = client.post("/v1/jobs", json=synthetic_spec(trials=8, sleep_s=1.0)).get_json()[
            "id"
        ]
        while store.jobs.get(job_id).trials_finished < 3:
            time.sleep(0.1)
        time.sleep(1.5)  # appendfsync everysec: what was acknowledged a second ago is on disk
        finished = {
            t.number: (t.state, t.value, t.attempt)
            for t in store.trials.list(job_id)
            if t.state.is_finished
        }

        redis_proc.kill()
        redis_proc.wait()
        started = time.monotonic()
        down = client.get(f"/v1/jobs/{job_id}")
        print(f"503 answered in {time.monotonic() - started:.2f} s")
        assert down.status_code == 503
        assert down.get_json()["error"]["code"] == "unavailable"
        time.sleep(3)
        redis_proc = start_redis(port, data)

        job = wait_job(store, job_id, timeout_s=180)
        assert job.status == JobStatus.SUCCEEDED, job.error
        trials = store.trials.list(job_id)
        assert [t.number for t in trials] == list(range(8))
        assert all(t.state == TrialState.COMPLETED for t in trials)
        for number, before in finished.items():  # nothing acknowledged was lost or re-run
            trial = trials[number]
            assert (trial.state, trial.value, trial.attempt) == before
        assert job.trials_finished == 8
        assert client.get(f"/v1/jobs/{job_id}").status_code == 200
    finally:
        workers.stop_all()
        workers.procs.clear()
        stop_process(redis_proc)


def test_cancel_mid_trial(fast_settings: Settings, store: JobStore, workers: Workers) -> None:
    workers.start("w1")
    client = api_client(fast_settings)
    job_id = client.post(
        "/v1/jobs", json=synthetic_spec(trials=5, sleep_s=4.0, epochs=20)
    ).get_json()["id"]
    wait_running(store, job_id, 1, epochs=3)
    at_cancel = store.trials.get(job_id, 1)
    assert at_cancel is not None

    response = client.post(f"/v1/jobs/{job_id}/cancel", json={"refit": False})
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    deadline = time.monotonic() + 30
    while not (trial := store.trials.get(job_id, 1)).state.is_finished:  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert trial is not None and trial.state == TrialState.CANCELLED
    assert trial.epochs <= at_cancel.epochs + 2  # stopped within an epoch of the request
    time.sleep(1)
    job = store.jobs.get(job_id)
    assert job.status == JobStatus.CANCELLED and job.trials_created == 2
    assert job.best_trial == 0  # the best so far is kept
    again = client.post(f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 200 and again.get_json()["stop_reason"]


def mlp_spec(trials: int) -> dict:
    """A real (tiny) Keras model, so that shipping the best makes a model to download."""
    return {
        "dataset": {"builtin": "iris"},
        "model": {"family": "mlp"},
        "search_space": {"units": {"type": "int", "low": 4, "high": 32}},
        "training": {"max_epochs": 4, "early_stopping": {"enabled": False}},
        "search": {"strategy": "random", "max_trials": trials, "parallelism": 1, "seed": 5},
    }


def wait_finished_trials(store: JobStore, job_id: str, count: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while store.jobs.get(job_id).trials_finished < count:
        assert time.monotonic() < deadline, store.jobs.get(job_id)
        time.sleep(0.05)


def test_cancel_ships_the_best_so_far(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    """Stop now and ship the best: the job is stopping while its best is refit, then cancelled
    with the model, the test scores and the summary a finished search has. ``{"refit": false}``
    stops at once, with none of it."""
    workers.start("w1")
    client = api_client(fast_settings)
    job_id = client.post("/v1/jobs", json=mlp_spec(trials=30)).get_json()["id"]
    wait_finished_trials(store, job_id, 2)
    stopping = client.post(f"/v1/jobs/{job_id}/cancel")
    assert stopping.status_code == 200, stopping.get_json()
    assert stopping.get_json()["status"] == "stopping"
    assert client.post(f"/v1/jobs/{job_id}/cancel").get_json()["status"] == "stopping"

    job = wait_job(store, job_id, timeout_s=120)
    assert job.status == JobStatus.CANCELLED, job.error
    assert [c.status for c in job.status_history][-2:] == [
        JobStatus.STOPPING, JobStatus.CANCELLED
    ]  # fmt: skip
    assert job.trials_created < 30
    body = client.get(f"/v1/jobs/{job_id}").get_json()
    assert "test_accuracy" in body["best"]["metrics"]
    assert body["summary"]["trials_by_state"]["completed"] >= 2
    assert body["summary"]["diagnosis"]["label"]
    assert body["stop_reason"] == "cancelled by the client"
    model = client.get(f"/v1/jobs/{job_id}/model")
    assert model.status_code == 200 and model.data[:2] == b"PK"

    bare_id = client.post("/v1/jobs", json=mlp_spec(trials=30)).get_json()["id"]
    wait_finished_trials(store, bare_id, 1)
    bare = client.post(f"/v1/jobs/{bare_id}/cancel", json={"refit": False})
    assert bare.get_json()["status"] == "cancelled"
    time.sleep(2)  # nothing is on its way
    assert client.get(f"/v1/jobs/{bare_id}").get_json()["summary"] is None
    assert client.get(f"/v1/jobs/{bare_id}/model").status_code == 404


def test_a_worker_killed_while_a_cancelled_job_ships_its_best(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    """The node dies right after the cancel, whatever it was doing (the trial, or the refit):
    the sweep of a new worker finalizes the stopping job; it does not stay stopping."""
    # The finalization lease: short, so the second worker's sweep takes the job over soon, yet
    # long enough that a trial on a loaded machine is not killed (a job whose trials all failed
    # has no best, and its cancel ends it at once instead of stopping).
    settings = dataclasses.replace(fast_settings, max_trial_time_s=15)
    first = workers.start("w1", settings=settings)
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=mlp_spec(trials=30)).get_json()["id"]
    wait_finished_trials(store, job_id, 2)
    deadline = time.monotonic() + 90
    while store.jobs.get(job_id).best_trial is None:
        assert time.monotonic() < deadline, store.trials.list(job_id)
        time.sleep(0.05)
    assert client.post(f"/v1/jobs/{job_id}/cancel").get_json()["status"] == "stopping"
    os.kill(first.pid, signal.SIGKILL)
    workers.start("w2", settings=settings)
    job = wait_job(store, job_id, timeout_s=120)
    assert job.status == JobStatus.CANCELLED, job.error
    assert "test_accuracy" in job.test_metrics
    assert client.get(f"/v1/jobs/{job_id}/model").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"refit": "no"}, 422, "refit"),
        ({"refit": True, "extra": 1}, 422, "extra"),
        ([True], 422, "body"),
    ],
)
def test_a_bad_cancel_body_is_a_4xx_that_cancels_nothing(
    settings: Settings, store: JobStore, body: object, status: int, field: str
) -> None:
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(trials=2, sleep_s=0.0)).get_json()["id"]
    response = client.post(f"/v1/jobs/{job_id}/cancel", json=body)
    assert response.status_code == status
    assert field in response.get_json()["error"]["fields"]
    assert store.jobs.get(job_id).status == JobStatus.QUEUED
    text = client.post(f"/v1/jobs/{job_id}/cancel", data="yes", content_type="text/plain")
    assert text.status_code == 415


def test_pruning_stops_hopeless_trials_and_keeps_the_best(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1")
    client = api_client(fast_settings)
    results = {}
    for rule in (None, "median", "asha"):
        spec = synthetic_spec(trials=12, sleep_s=0.3, epochs=9)
        spec["search_space"]["learning_rate"]["low"] = 1e-7  # many hopeless configurations
        if rule:
            spec["search"]["pruning"] = {"rule": rule, "min_epochs": 1, "reduction_factor": 3}
        job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
        job = wait_job(store, job_id)
        assert job.status == JobStatus.SUCCEEDED, job.error
        results[rule] = (job, store.trials.list(job_id))

    plain_job, plain_trials = results[None]
    assert not any(t.state == TrialState.PRUNED for t in plain_trials)
    for rule in ("median", "asha"):
        job, trials = results[rule]
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        assert pruned, rule
        assert all(t.epochs < 9 and t.value is not None for t in pruned)
        assert job.best_value == plain_job.best_value, rule
        assert trials[job.best_trial].params == plain_trials[plain_job.best_trial].params
        assert job.summary["pruned_trials"] == len(pruned)
        assert job.summary["epochs_saved_by_pruning"] == sum(9 - t.epochs for t in pruned) > 0
