"""Selection that holds up on test data, in real jobs (API -> Redis -> a Celery worker ->
Keras): the finalists' second look, and k-fold by default on a small dataset."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import api_client, wait_job

pytestmark = pytest.mark.integration


def test_the_refit_takes_the_best_finalist_and_the_job_shows_both_values(
    settings: Settings, store: JobStore, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    spec["search"].update(max_trials=4, initial_points=2, finalists=3, finalist_folds=3)
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    assert wait_job(store, job_id, timeout_s=300).status.value == "succeeded"
    job = client.get(f"/v1/jobs/{job_id}").get_json()
    trials = {t["number"]: t for t in client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]}
    finalists = job["summary"]["finalists"]
    assert len(finalists) == 3
    values = [f["search_value"] for f in finalists]
    assert values == sorted(values, reverse=True)  # the search's best first
    assert values[0] == max(t["value"] for t in trials.values() if t["value"] is not None)
    for finalist in finalists:
        assert finalist["search_value"] == trials[finalist["trial"]]["value"]
        assert 0.0 <= finalist["rescored_value"] <= 1.0
    chosen = [f for f in finalists if f["chosen"]]
    assert len(chosen) == 1
    assert chosen[0]["rescored_value"] == max(f["rescored_value"] for f in finalists)
    assert job["best"]["trial"] == chosen[0]["trial"]  # what was refit and shipped
    assert job["best"]["params"] == trials[chosen[0]["trial"]]["params"]
    assert "test_accuracy" in job["best"]["metrics"]
    assert job["model"]["bytes"]
    report = client.get(f"/v1/jobs/{job_id}/report?format=markdown").get_data(as_text=True)
    assert f"the refit took trial {chosen[0]['trial']}" in report
    assert f"- trial {chosen[0]['trial']}: accuracy search" in report


def test_a_small_dataset_is_cross_validated_by_default_and_the_job_says_why(
    settings: Settings, store: JobStore, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    del spec["training"]["validation"]  # iris, 150 rows: under TUNEQ_KFOLD_BELOW_ROWS
    spec["search"].update(max_trials=2, initial_points=2)
    spec["training"]["max_epochs"] = 3
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    assert wait_job(store, job_id, timeout_s=300).status.value == "succeeded"
    job = client.get(f"/v1/jobs/{job_id}").get_json()
    validation = job["spec"]["training"]["validation"]
    assert validation["method"] == "kfold" and validation["folds"] == 5
    assert "150 rows" in validation["reason"]
    trials = client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]
    assert all(len(t["folds"]) == 5 for t in trials), trials
    assert "finalists" not in job["summary"]  # k-fold already: no second look
