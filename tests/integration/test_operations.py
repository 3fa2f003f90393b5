"""Operating limits: mismatched broker options, a full Redis, fairness, a job's time budget,
and memory across trials."""

from __future__ import annotations

import dataclasses
import gc
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from service.core import keys
from service.core.records import JobStatus
from service.core.settings import Settings
from service.core.store import JobStore
from service.devstack import settings_env, worker_command
from tests.helpers import Workers, api_client, synthetic_spec, wait_job, wait_ready

pytestmark = pytest.mark.integration


def test_a_worker_with_other_broker_options_refuses_to_start(
    settings: Settings, tmp_path: Path
) -> None:
    redis.Redis.from_url(settings.redis_url).set(keys.broker_options(), "someone-else")
    result = subprocess.run(
        worker_command(), env=settings_env(settings), capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "differ" in result.stdout + result.stderr


def test_a_full_redis_refuses_new_jobs_with_503_and_evicts_nothing(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    client = api_client(settings)
    first = client.post("/v1/jobs", json=spec).get_json()["id"]
    server = redis.Redis.from_url(settings.redis_url)
    used = int(server.info("memory")["used_memory"])
    server.config_set("maxmemory", used // 2)  # over the limit: every write is refused
    try:
        response = client.post("/v1/jobs", json=spec)
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] == "unavailable"
        assert client.get(f"/v1/jobs/{first}").status_code == 200  # nothing evicted
    finally:
        server.config_set("maxmemory", 0)
    assert store.jobs.get(first).status == JobStatus.QUEUED
    assert server.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"


def test_a_later_small_job_is_not_starved_by_a_large_one(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    client = api_client(fast_settings)
    big_spec = synthetic_spec(trials=40, sleep_s=0.2, epochs=2)
    big_spec["search"]["parallelism"] = 2
    big = client.post("/v1/jobs", json=big_spec).get_json()["id"]
    small = client.post(
        "/v1/jobs", json=synthetic_spec(trials=3, sleep_s=0.2, epochs=2)
    ).get_json()["id"]
    workers.start("w1")
    small_job = wait_job(store, small)
    big_done = store.jobs.get(big).trials_finished
    assert small_job.status == JobStatus.SUCCEEDED
    assert big_done < 20, "the small job waited for most of the large one"
    assert wait_job(store, big).status == JobStatus.SUCCEEDED


def test_max_duration_ends_the_job_with_its_reason(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1")
    wait_ready(store)  # a 3-second budget must not go on the worker's start-up
    spec = synthetic_spec(trials=20, sleep_s=1.0, epochs=2)
    spec["search"]["max_duration_s"] = 3
    client = api_client(fast_settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.stop_reason == "max_duration_s reached"
    started = [t for t in store.trials.list(job_id) if t.started_at is not None]
    assert 1 <= len(started) < 20
    assert all(t.started_at <= job.deadline_at for t in started)  # type: ignore[operator]
    assert client.get(f"/v1/jobs/{job_id}").get_json()["stop_reason"] == "max_duration_s reached"


def test_memory_across_trials_grows_no_more_than_keras_itself(spec: dict[str, Any]) -> None:
    """Keras 3 on TensorFlow retains a few MiB per ``fit`` even after ``clear_session``
    (keras-team/keras#17458, open); worker processes are recycled to bound it. This test checks
    that tuneq adds nothing of its own on top: no datasets, models or histories kept."""
    import keras
    import numpy as np

    from service.core.spec import load_spec
    from service.core.vocabulary import configuration
    from worker.engine.dataset_loader import load_builtin
    from worker.engine.training import fit_trial

    job = load_spec(spec)
    data = load_builtin("iris")
    trials = 8

    def rss_mb() -> float:
        gc.collect()
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * 4096 / 2**20

    def bare_keras(n: int) -> None:
        keras.backend.clear_session()
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8 + n, activation="relu"),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = np.asarray(data.x_train), np.asarray(data.y_train)
        model.fit(x, y, validation_data=(x, y), epochs=8, batch_size=16, verbose=0)
        model.evaluate(x, y, verbose=0)
        model.evaluate(x, y, verbose=0)

    def ours(n: int) -> None:
        params = {"units": 8 + n, "learning_rate": 0.01, "activation": "relu", "batch_size": 16}
        fit_trial(job, configuration(job.fixed, params), data, seed=n)

    for n in range(3):  # warm-up: tracing caches and allocator pools fill here
        ours(n)
        bare_keras(n)
    start = rss_mb()
    for n in range(trials):
        bare_keras(n)
    baseline = (rss_mb() - start) / trials
    start = rss_mb()
    for n in range(trials):
        ours(n)
    per_trial = (rss_mb() - start) / trials
    print(f"RSS per trial: tuneq {per_trial:.2f} MiB, bare Keras {baseline:.2f} MiB")
    assert per_trial <= baseline + 1.5


def test_worker_processes_are_recycled(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    settings = dataclasses.replace(fast_settings, worker_max_tasks_per_child=2)
    workers.start("w1", settings=settings)
    client = api_client(settings)
    job_id = client.post(
        "/v1/jobs", json=synthetic_spec(trials=4, sleep_s=0.1, epochs=2)
    ).get_json()["id"]
    assert wait_job(store, job_id).status == JobStatus.SUCCEEDED
    pids = {t.worker for t in store.trials.list(job_id)}
    assert len(pids) >= 2  # a fresh pool process took over after two tasks
