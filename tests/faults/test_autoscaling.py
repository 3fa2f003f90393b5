"""Autoscaling that never shrinks the fleet under running trials (issue 23): the metric the
autoscaler reads counts waiting and running trials, a ``--once`` worker takes one trial and
exits with it recorded, and SIGTERM lets such a worker finish its trial rather than restart it.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from typing import Any

import pytest

from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import Workers, api_client, synthetic_spec, wait_job, wait_running

pytestmark = pytest.mark.integration


def wanted(client: Any) -> dict[str, int]:
    response = client.get("/scaling")
    assert response.status_code == 200
    return response.get_json()["trials"]


def test_the_scaling_metric_counts_running_trials_and_falls_to_zero(
    fast_settings: Settings, workers: Workers, store: JobStore
) -> None:
    workers.start("w")
    client = api_client(fast_settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(2, sleep_s=3.0, epochs=3)).get_json()["id"]
    wait_running(store, job_id, 0)
    seen = wanted(client)
    assert seen == {"waiting": 0, "running": 1, "wanted": 1}  # a queue-length metric reads 0
    assert wait_job(store, job_id).status == JobStatus.SUCCEEDED
    assert wanted(client) == {"waiting": 0, "running": 0, "wanted": 0}


def once(settings: Settings) -> Settings:
    return dataclasses.replace(settings, worker_once=True)


def wait_exit(proc: Any, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None:
        assert time.monotonic() < deadline, "the --once worker did not exit"
        time.sleep(0.1)
    return int(proc.returncode)


def finish_with_once_workers(
    workers: Workers, settings: Settings, store: JobStore, job_id: str, most: int = 8
) -> None:
    """Start ``--once`` workers one after another, as the autoscaler would, until the job ends;
    each must exit by itself (a duplicate message a sweep re-sent takes one that does nothing)."""
    for n in range(most):
        if store.jobs.get(job_id).status.is_finished:
            return
        worker = workers.start(
            f"once-next-{n}", beat=False, queues="trials", settings=once(settings)
        )
        assert wait_exit(worker) == 0
    assert wait_job(store, job_id, timeout_s=30).status.is_finished


def test_a_once_worker_runs_one_trial_records_it_and_exits(
    fast_settings: Settings, workers: Workers, store: JobStore
) -> None:
    workers.start("control", queues="control")
    client = api_client(fast_settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(2, sleep_s=0.5, epochs=2)).get_json()["id"]
    first = workers.start("once-1", beat=False, queues="trials", settings=once(fast_settings))
    assert wait_exit(first) == 0
    trials = store.trials.list(job_id)
    assert trials[0].state == TrialState.COMPLETED and trials[0].attempt == 1
    deadline = time.monotonic() + 30  # the control worker queues trial 1; nobody takes it
    while len(store.trials.list(job_id)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert store.trials.get(job_id, 1).state == TrialState.QUEUED  # type: ignore[union-attr]
    finish_with_once_workers(workers, fast_settings, store, job_id)  # trial 1, the finalization
    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert [(t.attempt, t.preemptions) for t in store.trials.list(job_id)] == [(1, 0), (1, 0)]


def test_sigterm_lets_a_once_worker_finish_its_trial(
    fast_settings: Settings, workers: Workers, store: JobStore
) -> None:
    workers.start("control", queues="control")
    client = api_client(fast_settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(1, sleep_s=4.0, epochs=4)).get_json()["id"]
    worker = workers.start("once", beat=False, queues="trials", settings=once(fast_settings))
    wait_running(store, job_id, 0, epochs=1)
    worker.send_signal(signal.SIGTERM)  # a node drained, a pod deleted
    assert wait_exit(worker) == 0
    trial = store.trials.get(job_id, 0)
    assert trial is not None and trial.state == TrialState.COMPLETED
    assert (trial.attempt, trial.preemptions, trial.epochs) == (1, 0, 4)  # finished, not re-run
    finish_with_once_workers(workers, fast_settings, store, job_id)
    assert wait_job(store, job_id).status == JobStatus.SUCCEEDED
    assert [t.attempt for t in store.trials.list(job_id)] == [1]
