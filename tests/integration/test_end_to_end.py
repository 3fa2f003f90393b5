"""A real job end to end: HTTP API -> Redis -> a real Celery worker -> Keras -> Redis -> client."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.app import create_app
from service.core.settings import Settings

pytestmark = pytest.mark.integration


def wait_for(client: FlaskClient, job_id: str, timeout_s: float = 300) -> tuple[dict, list[str]]:
    """Poll the job until it finishes; returns it and every status seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.get_json()
        job = response.get_json()
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job, seen
        assert time.monotonic() < deadline, f"job still {job['status']}: {job['progress']}"
        time.sleep(0.2)


def in_space(params: dict[str, Any], space: dict[str, Any]) -> bool:
    for name, dim in space.items():
        value = params[name]
        if dim["type"] == "categorical":
            if value not in dim["choices"]:
                return False
        elif not dim["low"] <= value <= dim["high"]:
            return False
    return set(params) == set(space)


def test_bayesian_classification_job(
    settings: Settings, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    client = create_app(settings).test_client()
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    assert response.headers["Location"] == f"/v1/jobs/{job_id}"

    job, seen = wait_for(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert [e["status"] for e in job["status_history"]] == ["queued", "running", "succeeded"]
    assert seen == [s for s in ["queued", "running", "succeeded"] if s in seen]

    trials = client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]
    max_trials = spec["search"]["max_trials"]
    assert [t["number"] for t in trials] == list(range(max_trials))
    assert all(t["state"] == "completed" for t in trials)
    assert all(t["attempt"] == 1 for t in trials)  # nothing ran twice
    assert job["progress"]["trials_finished"] == max_trials
    assert len({tuple(sorted(t["params"].items())) for t in trials}) == max_trials
    for trial in trials:
        assert in_space(trial["params"], spec["search_space"])
        metrics = trial["metrics"]
        assert 0.0 <= metrics["val_accuracy"] <= 1.0 and 0.0 <= metrics["accuracy"] <= 1.0
        assert metrics["val_loss"] >= 0.0 and metrics["loss"] >= 0.0
        assert 1 <= trial["epochs"] <= spec["training"]["max_epochs"]
        assert len(trial["history"]["val_loss"]) == trial["epochs"]
        assert trial["value"] == metrics["val_accuracy"]

    best = max(trials, key=lambda t: t["value"])
    assert job["best"]["value"] == best["value"]
    assert trials[job["best"]["trial"]]["value"] == best["value"]
    assert job["best"]["params"] == trials[job["best"]["trial"]]["params"]
    assert job["best"]["configuration"]["n_layers"] == spec["fixed"]["n_layers"]
    assert 0.0 <= job["best"]["metrics"]["test_accuracy"] <= 1.0
    assert job["best"]["metrics"]["test_loss"] >= 0.0


def test_random_regression_job_minimises_its_objective(
    settings: Settings, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    spec["dataset"] = {"builtin": "diabetes"}
    spec["training"]["objective"] = {"metric": "val_mae"}
    spec["search"] = {"strategy": "random", "max_trials": 3, "seed": 1}
    client = create_app(settings).test_client()
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]

    job, _ = wait_for(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["objective"] == {"metric": "val_mae", "direction": "min"}
    trials = client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]
    assert len(trials) == 3
    assert job["best"]["value"] == min(t["value"] for t in trials)
    assert {"test_mse", "test_mae", "test_loss"} <= set(job["best"]["metrics"])
