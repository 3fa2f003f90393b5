"""Kill a real worker's pool child in the middle of a trial: the trial is taken over once its
lease expires, runs a second attempt, and the job finishes with every trial exactly once."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.core.records import TrialState
from service.core.settings import Settings
from service.core.store import JobStore
from service.devstack import settings_env, stop_process, worker_command

pytestmark = pytest.mark.integration


def pool_children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_sigkill_of_the_pool_child_mid_trial(
    settings: Settings, store: JobStore, spec: dict[str, Any], tmp_path: Path
) -> None:
    settings = dataclasses.replace(settings, trial_lease_s=3)
    spec["dataset"] = {"builtin": "digits"}
    spec["training"]["max_epochs"] = 25
    spec["training"]["early_stopping"] = {"enabled": False}
    spec["search"] = {"strategy": "random", "max_trials": 4, "seed": 2}
    spec["fixed"] = {"n_layers": 2}
    spec["search_space"]["batch_size"] = {"type": "categorical", "choices": [8]}

    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            worker_command(loglevel="INFO"),
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        client = create_app(settings).test_client()
        job_id = client.post("/v1/jobs", json=spec).get_json()["id"]

        deadline = time.monotonic() + 120
        while True:  # wait until trial 1 is training (at least one epoch reported)
            trial = store.get_trial(job_id, 1)
            if trial is not None and trial.state == TrialState.RUNNING and trial.epochs >= 1:
                break
            assert time.monotonic() < deadline, "trial 1 never started"
            time.sleep(0.05)
        children = pool_children(worker.pid)
        assert len(children) == 1
        os.kill(children[0], signal.SIGKILL)

        deadline = time.monotonic() + 240
        while (job := store.get_job(job_id)).status.value not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"job stuck: {job}"
            time.sleep(0.2)
        assert job.status.value == "succeeded", job.error
        trials = store.list_trials(job_id)
        assert [t.number for t in trials] == [0, 1, 2, 3]
        assert all(t.state == TrialState.COMPLETED for t in trials)
        assert [t.attempt for t in trials] == [1, 2, 1, 1]
        assert job.trials_finished == 4
    finally:
        stop_process(worker)
        print(log_path.read_text(errors="replace")[-3000:])
