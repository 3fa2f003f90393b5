"""A worker killed under a Hyperband job: the trial it trained runs again from its
first epoch in the same bracket, every other trial runs once, and the brackets still hold."""

from __future__ import annotations

import os
import signal

import pytest

from service.core.records import TrialState
from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import Workers, api_client, wait_job, wait_running
from tests.integration.test_hyperband import FULL, assert_ran_in_brackets, hyperband_spec

pytestmark = pytest.mark.integration


def test_sigkill_of_a_worker_child_mid_bracket(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    """Hyperband's; BOHB's trials run and recover the same way (only their points differ)."""
    workers.start("w1")
    workers.start("w2", beat=False)
    response = api_client(fast_settings).post(
        "/v1/jobs", json=hyperband_spec("hyperband", 17, sleep_s=2.7)
    )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    victim = FULL[1]  # trial 9, in the bracket that trains every trial for all 9 epochs
    wait_running(store, job_id, victim, epochs=2, timeout_s=120)
    trial = store.trials.get(job_id, victim)
    assert trial is not None and trial.worker is not None and trial.epochs < 8
    os.kill(int(trial.worker.rsplit(":", 1)[1]), signal.SIGKILL)  # the pool child training it

    job = wait_job(store, job_id, timeout_s=240)
    trials = store.trials.list(job_id)
    assert [t.number for t in trials] == list(range(17))
    assert_ran_in_brackets(job, trials)
    assert [t.attempt for t in trials] == [2 if n == victim else 1 for n in range(17)]
    again = trials[victim]
    assert again.state == TrialState.COMPLETED and len(again.history["val_accuracy"]) == 9
    assert job.trials_finished == 17
    assert sum(r["trials"] for r in job.summary["brackets"]) == 17
