"""Killed worker processes lose no finished trial, run none twice, and leave no job stuck."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import (
    Workers,
    alive,
    api_client,
    send_run_trial,
    synthetic_spec,
    wait_job,
    wait_running,
)

pytestmark = pytest.mark.integration


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def submit(settings: Settings, spec: dict) -> str:
    response = api_client(settings).post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_sigkill_of_the_pool_child_during_trial_3(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    worker = workers.start("w1")
    job_id = submit(fast_settings, synthetic_spec(trials=10, sleep_s=1.0))
    wait_running(store, job_id, 3)
    trial = store.trials.get(job_id, 3)
    assert trial is not None and trial.worker is not None
    child = int(trial.worker.rsplit(":", 1)[1])  # the pool process training trial 3
    assert child in pool_children(worker.pid)
    os.kill(child, signal.SIGKILL)

    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert [t.number for t in trials] == list(range(10))
    assert all(t.state == TrialState.COMPLETED for t in trials)
    assert [t.attempt for t in trials] == [1, 1, 1, 2, 1, 1, 1, 1, 1, 1]
    assert job.trials_finished == 10


def test_sigkill_of_the_main_process_and_a_new_worker(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    first = workers.start("w1")
    job_id = submit(fast_settings, synthetic_spec(trials=5, sleep_s=1.5))
    wait_running(store, job_id, 2)
    children = pool_children(first.pid)
    os.kill(first.pid, signal.SIGKILL)  # the node dies: its pool children die with it
    first.wait()
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "orphans left"

    killed_at = time.monotonic()
    workers.start("w2")
    wait_running(store, job_id, 2, epochs=1, timeout_s=30)
    resumed_after = time.monotonic() - killed_at
    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert [t.attempt for t in store.trials.list(job_id)] == [1, 1, 2, 1, 1]
    # within lease + sweep interval, plus worker start-up
    assert resumed_after < fast_settings.trial_lease_s + fast_settings.sweep_interval_s + 15

    send_run_trial(fast_settings, job_id, 2)  # the broker's late redelivery of trial 2
    time.sleep(2)
    after = store.trials.list(job_id)
    assert [t.attempt for t in after] == [1, 1, 2, 1, 1]
    assert store.jobs.get(job_id).trials_finished == 5


def test_duplicate_deliveries_to_two_workers_train_each_trial_once(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1")
    workers.start("w2", beat=False)
    spec = synthetic_spec(trials=10, sleep_s=0.5)
    spec["search"]["parallelism"] = 2
    job_id = submit(fast_settings, spec)
    duplicated: set[int] = set()
    deadline = time.monotonic() + 120
    while not store.jobs.get(job_id).status.is_finished:
        for trial in store.trials.list(job_id):
            if trial.number not in duplicated:
                for _ in range(2):
                    send_run_trial(fast_settings, job_id, trial.number)
                duplicated.add(trial.number)
        assert time.monotonic() < deadline
        time.sleep(0.05)
    job = store.jobs.get(job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert len(trials) == 10 and job.trials_finished == 10
    assert all(t.state == TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert len(duplicated) == 10


def test_a_trial_that_crashes_every_attempt_fails_after_three(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1")
    job_id = submit(fast_settings, synthetic_spec(trials=5, sleep_s=0.3, crash_trials=[2]))
    job = wait_job(store, job_id, timeout_s=180)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert trials[2].state == TrialState.FAILED and trials[2].attempt == 3
    assert "3 attempts" in (trials[2].error or "")
    others = [t for t in trials if t.number != 2]
    assert all(t.state == TrialState.COMPLETED and t.attempt == 1 for t in others)


def test_a_trial_over_its_hard_time_limit_is_timed_out_and_not_rerun(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1")
    spec = synthetic_spec(trials=3, sleep_s=0.3, hang_trials=[1])
    spec["training"].update(time_limit_s=2, hard_time_limit_s=3)
    job_id = submit(fast_settings, spec)
    job = wait_job(store, job_id, timeout_s=120)
    assert job.status == JobStatus.SUCCEEDED, job.error
    hung = store.trials.get(job_id, 1)
    assert hung is not None and hung.state == TrialState.TIMED_OUT and hung.attempt == 1
    assert hung.started_at is not None and hung.finished_at is not None
    assert 3.0 <= hung.finished_at - hung.started_at <= 5.0
    time.sleep(2 * fast_settings.trial_lease_s)  # a redelivery would have run it by now
    again = store.trials.get(job_id, 1)
    assert again is not None and again.attempt == 1 and again.state == TrialState.TIMED_OUT


def test_sigterm_hands_the_running_trial_back(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    first = workers.start("w1")
    job_id = submit(fast_settings, synthetic_spec(trials=3, sleep_s=6.0, epochs=30))
    wait_running(store, job_id, 1, epochs=2)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=15)  # seconds, not the rest of the trial
    trial = store.trials.get(job_id, 1)
    assert trial is not None and trial.state == TrialState.QUEUED and trial.preemptions == 1

    workers.start("w2")
    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert all(t.state == TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert trials[1].preemptions == 1 and trials[1].epochs == 30


def bayesian_spec(trials: int, parallelism: int, sleep_s: float) -> dict:
    spec = synthetic_spec(trials=trials, sleep_s=sleep_s)
    spec["search"].update(strategy="bayesian", parallelism=parallelism, initial_points=3)
    return spec


def refill_in_hand(log: Path) -> str | None:
    """The id of a refill task the control worker received and has not finished."""
    text = log.read_text(errors="replace")
    received = re.findall(r"Task tuneq\.refill\[([0-9a-f-]+)\] received", text)
    ended = set(re.findall(r"Task tuneq\.refill\[([0-9a-f-]+)\] succeeded", text))
    return next((task for task in reversed(received) if task not in ended), None)


def test_a_parallel_bayesian_job_survives_its_refills_being_killed(
    fast_settings: Settings,
    store: JobStore,
    workers: Workers,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    """SIGKILL of the control process while it makes suggestions ahead (a refill): the
    message comes back, the refill is made again, and nothing is lost, run twice or stuck."""
    control = workers.start("control", beat=False, queues="control")  # one child: the pool's
    workers.start("trials", concurrency=3, queues="trials")
    job_id = submit(fast_settings, bayesian_spec(trials=18, parallelism=3, sleep_s=0.4))
    killed: list[str] = []
    deadline = time.monotonic() + 90
    while len(killed) < 2 and not store.jobs.get(job_id).status.is_finished:
        assert time.monotonic() < deadline, "no refill was ever seen running"
        task = refill_in_hand(tmp_path / "control.log")
        time.sleep(0.05)  # an advance takes milliseconds; a refill still here is running
        children = pool_children(control.pid)  # one, unless the pool is replacing it
        still = refill_in_hand(tmp_path / "control.log")
        if task and task not in killed and len(children) == 1 and still == task:
            os.kill(children[0], signal.SIGKILL)
            killed.append(task)
    assert len(killed) == 2, "the job ended before two refills could be killed"

    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert len(trials) == 18 and job.trials_finished == 18
    assert all(t.state == TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 18
    log = (tmp_path / "control.log").read_text(errors="replace")
    for task in killed:  # redelivered, and made this time
        assert f"Task tuneq.refill[{task}] succeeded" in log
    assert not redis_client.exists(f"tuneq:job:{{{job_id}}}:ahead")  # gone with the job
