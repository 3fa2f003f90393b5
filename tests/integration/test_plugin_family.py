"""A model family from the operator, through the real stack: a package registering the entry
point ``tuneq.families`` sits on a real worker's path; the worker publishes it, the API lists it
and validates a job's search space against it without importing it, and the job tunes it end
to end. A family that no live worker offers, or a broken package, is refused."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import keras
import pytest

from service.core.settings import Settings
from service.devstack import free_port, settings_env, stop_process, worker_command
from tests.helpers import api_client
from tests.integration.test_end_to_end import wait_for

pytestmark = pytest.mark.integration

PLUGIN_PATH = Path(__file__).resolve().parent.parent / "plugin_family"


@pytest.fixture
def plugin_worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker with the plugin package installed on its path (the API never has it)."""
    env = settings_env(settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGIN_PATH), env.get("PYTHONPATH")]))
    with (tmp_path / "worker.log").open("wb") as log:
        proc = subprocess.Popen(
            worker_command(loglevel="INFO", hostname=f"plugin-{free_port()}@%h"),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        stop_process(proc, timeout_s=10)
        print((tmp_path / "worker.log").read_text()[-3000:])


def _spec(**search_space: object) -> dict:
    return {
        "dataset": {"builtin": "digits"},
        "model": {"family": "tiny_stack"},
        "search_space": {
            "width": {"type": "int", "low": 8, "high": 48},
            "squash": {"type": "categorical", "choices": ["relu", "tanh"]},
            **search_space,
        },
        "fixed": {"depth": 2},
        "training": {"max_epochs": 3},
        "search": {"strategy": "random", "max_trials": 2, "seed": 0},
    }


def test_an_operators_family_is_listed_validated_and_tuned(
    settings: Settings, plugin_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    client = api_client(settings)
    # before a worker offers it, no job may name it
    response = client.post("/v1/jobs", json=_spec())
    deadline = time.monotonic() + 60
    while response.status_code == 422 and time.monotonic() < deadline:
        time.sleep(0.5)
        response = client.post("/v1/jobs", json=_spec())
    assert response.status_code == 202, response.get_json()
    families = client.get("/v1/families").get_json()["families"]
    offered = {f["name"]: f for f in families}
    assert {"mlp", "conv1d", "conv2d", "declared", "tiny_stack"} <= set(offered)
    assert "broken_family" not in offered  # a broken package is logged, not offered
    tiny = offered["tiny_stack"]
    assert tiny["builtin"] is False and tiny["workers"] == 1
    assert [hp["name"] for hp in tiny["hyperparameters"]] == ["depth", "width", "squash"]

    job, _ = wait_for(client, response.get_json()["id"])
    assert job["status"] == "succeeded", job["error"]
    assert job["spec"]["model"] == {"family": "tiny_stack"}
    configuration = job["best"]["configuration"]
    assert configuration["depth"] == 2 and configuration["squash"] in ("relu", "tanh")
    assert "n_layers" not in configuration and configuration["optimizer"] == "adam"
    path = tmp_path / "tiny.keras"
    path.write_bytes(client.get(job["links"]["model"]).data)
    model = keras.saving.load_model(path)  # plain Dense layers: loads in safe mode
    assert model.count_params() > 0

    for spec, field in [
        (_spec(width={"type": "int", "low": 8, "high": 1000}), "search_space.width.high"),
        (_spec(n_layers={"type": "int", "low": 1, "high": 2}), "search_space.n_layers"),
        (_spec(squash={"type": "categorical", "choices": ["relu", "swish"]}),
         "search_space.squash.choices.1"),
        ({**_spec(), "model": {"family": "no_such_family"}}, "model.family"),
        ({**_spec(), "model": {"family": "broken_family"}}, "model.family"),
    ]:  # fmt: skip
        response = client.post("/v1/jobs", json=spec)
        assert response.status_code == 422, response.get_json()
        assert field in response.get_json()["error"]["fields"], response.get_json()

    # the job keeps the definition it was validated against: readable with no worker left
    stop_process(plugin_worker, timeout_s=10)
    again = client.get(f"/v1/jobs/{job['id']}").get_json()
    assert again["best"]["configuration"] == configuration
