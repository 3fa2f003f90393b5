"""A real job end to end: HTTP API -> Redis -> a real Celery worker -> Keras -> Redis -> client."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from service.core.settings import Settings
from tests.helpers import api_client
from worker.engine.dataset_loader import load_builtin

DIAGNOSES = {"good_fit", "overfitting", "underfitting", "underfitting_and_overfitting"}

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
    return set(params) <= set(space)


def _predict(path: Path, x: np.ndarray) -> np.ndarray:
    import keras

    return np.asarray(keras.saving.load_model(path).predict(x, verbose=0))


def test_bayesian_classification_job(
    settings: Settings, worker: subprocess.Popen[bytes], spec: dict[str, Any], tmp_path: Path
) -> None:
    client = api_client(settings)
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
        # what the model costs, for any job: at least its dense weights, and a latency
        units = trial["params"]["units"]
        assert metrics["param_count"] >= 4 * units + units * 3
        assert 0.0 < metrics["inference_ms"] < 1000.0

    best = max(trials, key=lambda t: t["value"])
    assert job["best"]["value"] == best["value"]
    assert trials[job["best"]["trial"]]["value"] == best["value"]
    assert job["best"]["params"] == trials[job["best"]["trial"]]["params"]
    assert job["best"]["configuration"]["n_layers"] == spec["fixed"]["n_layers"]
    assert 0.0 <= job["best"]["metrics"]["test_accuracy"] <= 1.0
    assert job["best"]["metrics"]["test_loss"] >= 0.0
    assert job["best"]["diagnosis"]["label"] in DIAGNOSES
    assert job["best"]["diagnosis"]["advice"]
    assert job["summary"]["diagnosis"] == job["best"]["diagnosis"]
    assert all(t["diagnosis"]["label"] in DIAGNOSES for t in trials)
    # the refit kept its best epoch on an inner part and says what each part measured
    refit = job["summary"]["refit"]
    assert refit["method"] == "inner_validation"
    assert 1 <= refit["epochs"] <= spec["training"]["max_epochs"]
    assert refit["search_value"] == job["best"]["value"]
    assert refit["test_value"] == job["best"]["metrics"]["test_accuracy"]
    assert 0.0 <= refit["inner_validation_value"] <= 1.0 and refit["standard_error"] > 0
    signature = {"type": "array", "sample_shape": [4]}  # iris: four raw features per row
    assert refit["model_input"] == job["model"]["input"] == signature
    assert job["model"]["class_names"] == ["0", "1", "2"]

    # the refit model downloads as a plain .keras file that predicts from raw features
    response = client.get(job["links"]["model"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert ".keras" in response.headers["Content-Disposition"]
    path = tmp_path / "best.keras"
    path.write_bytes(response.data)
    data = load_builtin("iris")
    accuracy = float(np.mean(_predict(path, data.x_test).argmax(axis=1) == data.y_test))
    assert accuracy == pytest.approx(job["best"]["metrics"]["test_accuracy"])


def test_random_regression_job_minimises_its_objective(
    settings: Settings, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    spec["dataset"] = {"builtin": "diabetes"}
    spec["training"]["objective"] = {"metric": "val_mae"}
    spec["search"] = {"strategy": "random", "max_trials": 3, "seed": 1}
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]

    job, _ = wait_for(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["objective"] == {"metric": "val_mae", "direction": "min"}
    trials = client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]
    assert len(trials) == 3
    assert job["best"]["value"] == min(t["value"] for t in trials)
    assert {"test_mse", "test_mae", "test_loss"} <= set(job["best"]["metrics"])


def test_conditional_grid_kfold_job_and_warm_start(
    settings: Settings, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    spec["search_space"] = {
        "n_layers": {"type": "int", "low": 1, "high": 2},
        "units_2": {"type": "int", "low": 4, "high": 8, "steps": 2},
    }
    spec["fixed"] = {"learning_rate": 0.05}
    spec["training"]["validation"] = {"method": "kfold", "folds": 2}
    spec["search"] = {"strategy": "grid", "max_trials": 50, "parallelism": 2}
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    job, _ = wait_for(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"]["trials_total"] == 3  # one layer (units_2 inactive) + two widths
    trials = client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]
    params = sorted(
        (t["params"] for t in trials), key=lambda p: (p["n_layers"], p.get("units_2", 0))
    )
    assert params == [{"n_layers": 1}, {"n_layers": 2, "units_2": 4}, {"n_layers": 2, "units_2": 8}]
    for trial in trials:
        assert len(trial["folds"]) == 2
        assert "val_accuracy_std" in trial["metrics"]
    assert (
        "units_2" not in job["best"]["configuration"]
        or job["best"]["configuration"]["n_layers"] == 2
    )

    # a later job learns from this one; a job from nowhere or with another space is refused
    later = {
        **spec,
        "search": {
            "strategy": "bayesian",
            "max_trials": 2,
            "initial_points": 2,
            "warm_start": [job_id],
        },
    }
    response = client.post("/v1/jobs", json=later)
    assert response.status_code == 202, response.get_json()
    warm, _ = wait_for(client, response.get_json()["id"])
    assert warm["status"] == "succeeded", warm["error"]
    lineage = warm["summary"]["warm_start"]  # the best over both jobs, and where it comes from
    assert lineage["sources"][0]["job_id"] == job_id and lineage["sources"][0]["comparable"]
    assert lineage["best"]["value"] == max(job["best"]["value"], warm["best"]["value"])
    assert lineage["best"]["from_source"] == (lineage["best"]["job_id"] == job_id)
    for bad, reason in (("0" * 32, "No such job"), (job_id, "not compatible")):
        other = {
            **later,
            "search_space": spec["search_space"]
            if bad != job_id
            else {"n_layers": {"type": "int", "low": 1, "high": 2}},
        }
        other["search"] = {**later["search"], "warm_start": [bad]}
        response = client.post("/v1/jobs", json=other)
        assert response.status_code == 422
        assert reason in response.get_json()["error"]["fields"]["search.warm_start.0"][0]


def test_learning_rate_range_test_job(
    settings: Settings, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    spec["search_space"] = {}
    spec["fixed"] = {"optimizer": "sgd", "batch_size": 16}
    spec["search"] = {
        "strategy": "lr_range_test",
        "lr_range": {"min_lr": 1e-4, "max_lr": 10.0, "steps": 40},
    }
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    job, _ = wait_for(client, job_id)
    assert job["status"] == "succeeded", job["error"]
    found = job["summary"]["lr_range"]
    assert 1e-4 <= found["suggested_learning_rate"] <= 10.0
    (trial,) = client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"]
    assert len(trial["history"]["learning_rate"]) == len(trial["history"]["loss"]) >= 5
    assert client.get(job["links"]["model"]).status_code == 404
