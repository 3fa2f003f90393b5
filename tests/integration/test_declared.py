"""A model the user declares as layers, through the real stack: submit a convnet with slots
over digits images, tune it on a real Celery worker, and download a model that plain
``keras.saving.load_model`` (safe mode) loads and that predicts the test images with the
accuracy the service reported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest

from service.core.settings import Settings
from tests.declared import convnet_spec
from tests.helpers import api_client
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


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer, inside the trained model the served one wraps too."""
    found = []
    for layer in model.layers:
        found += _layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found
