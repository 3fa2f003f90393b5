"""A model the user declares as layers, through the real stack: submit a convnet with slots
over digits images, tune it on a real Celery worker, and download a model that plain
``keras.saving.load_model`` (safe mode) loads and that predicts the test images with the
accuracy the service reported."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest

from service.core.settings import Settings
from tests.declared import convnet_spec, residual_spec
from tests.helpers import LiveApi, api_client
from tests.integration.test_cli_gate import live, tuneq  # noqa: F401
from tests.integration.test_end_to_end import in_space, wait_for
from worker.engine.dataset_loader import load_builtin

pytestmark = pytest.mark.integration


def test_a_declared_convnet_tunes_and_exports(
    settings: Settings, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    client = api_client(settings)
    spec = convnet_spec(trials=3, epochs=4)
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job, _ = wait_for(client, response.get_json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["spec"]["model"]["family"] == "declared"
    assert job["spec"]["model"]["layers"] == spec["model"]["layers"]

    trials = client.get(f"/v1/jobs/{job['id']}/trials").get_json()["trials"]
    assert [t["state"] for t in trials] == ["completed"] * 3
    for trial in trials:
        active = {k: v for k, v in spec["search_space"].items() if k in trial["params"]}
        assert in_space(trial["params"], active)
        # a per-repeat slot is only reported where its repeat exists
        assert ("filters_2" in trial["params"]) == (trial["params"]["blocks"] >= 2)
    configuration = job["best"]["configuration"]
    assert {"filters", "blocks", "units", "dropout", "learning_rate", "optimizer"} <= set(
        configuration
    )
    assert "n_layers" not in configuration

    response = client.get(job["links"]["model"])
    assert response.status_code == 200
    path = tmp_path / "declared.keras"
    path.write_bytes(response.data)
    model = keras.saving.load_model(path)  # safe mode, no custom objects
    convolutions = [layer for layer in _layers(model) if isinstance(layer, keras.layers.Conv2D)]
    assert len(convolutions) == 1 + int(job["best"]["params"]["blocks"])
    data = load_builtin("digits")
    predicted = np.asarray(model.predict(data.x_test, verbose=0)).argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test))
    assert accuracy == pytest.approx(job["best"]["metrics"]["test_accuracy"])


def test_a_declared_graph_with_a_skip_tunes_and_exports(
    settings: Settings, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    client = api_client(settings)
    spec = residual_spec(trials=2, epochs=3)
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job, _ = wait_for(client, response.get_json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["spec"]["model"]["graph"] == spec["model"]["graph"]
    path = tmp_path / "residual.keras"
    path.write_bytes(client.get(job["links"]["model"]).data)
    model = keras.saving.load_model(path)
    adds = [layer.name for layer in _layers(model) if isinstance(layer, keras.layers.Add)]
    assert adds == ["node_skip"]  # the node's name, prefixed so that it cannot clash
    data = load_builtin("digits")
    predicted = np.asarray(model.predict(data.x_test, verbose=0)).argmax(axis=1)
    assert float(np.mean(predicted == data.y_test)) == pytest.approx(
        job["best"]["metrics"]["test_accuracy"]
    )


def test_import_add_a_slot_and_tune(
    live: LiveApi,  # noqa: F811
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    """The round trip a user makes: save a Keras model, ``tuneq model import`` it, put a slot
    in, and tune it."""
    original = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(24, activation="relu", kernel_regularizer="l2"),
        keras.layers.Dropout(0.1),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    original.save(tmp_path / "mine.keras")
    done = tuneq(live, "model", "import", str(tmp_path / "mine.keras"))
    assert done.returncode == 0, done.stderr
    assert "kernel_regularizer dropped" in done.stderr
    model = json.loads(done.stdout)
    assert model["input_shape"] == [64] and model["layers"][-1]["output"] is True
    model["layers"][0]["units"] = {"hp": "units"}
    spec = {
        "dataset": {"builtin": "digits"},
        "model": model,
        "search_space": {"units": {"type": "int", "low": 8, "high": 32}},
        "training": {"max_epochs": 3},
        "search": {"strategy": "random", "max_trials": 2},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = tuneq(live, "submit", str(tmp_path / "spec.json"), "--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer, inside the trained model the served one wraps too."""
    found = []
    for layer in model.layers:
        found += _layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found
