"""``tuneq submit`` as another project's CI runs it, against a live stack over HTTP: the exit
code is the gate (0 passed, 1 threshold missed, 2 invalid or failed, 3 timed out, 4 unreachable
or unauthorized) and the JUnit file says which threshold failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from service.devstack import free_port
from tests.helpers import LiveApi, synthetic_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveApi]:
    api = LiveApi(settings).start()
    yield api
    api.stop()


def tuneq(api: LiveApi | None, *args: str, key: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if api is not None:
        env.update(TUNEQ_URL=api.url, TUNEQ_API_KEY=key or api.key)
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def spec_file(tmp_path: Path, spec: dict[str, Any], name: str = "spec.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


def test_thresholds_gate_the_build(live: LiveApi, worker: Any, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=3, sleep_s=0.0, epochs=3))
    passing = tuneq(
        live, "submit", spec, "--fail-under", "val_accuracy=0.01",
        "--fail-over", "val_loss=1000", "--junit", str(tmp_path / "pass.xml"),
    )  # fmt: skip
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "trials finished" in passing.stderr  # plain progress lines: not a terminal
    suite = ET.parse(tmp_path / "pass.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("tests") == "3"
    properties = {p.get("name") for p in suite.iter("property")}
    assert "job_id" in properties and "best.learning_rate" in properties

    failing = tuneq(
        live, "submit", spec, "--fail-under", "val_accuracy=1.5",
        "--fail-under", "val_accuracy=0.01", "--junit", str(tmp_path / "fail.xml"),
    )  # fmt: skip
    assert failing.returncode == 1, failing.stdout + failing.stderr
    suite = ET.parse(tmp_path / "fail.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["val_accuracy >= 1.5"]


def test_invalid_spec_exits_2_naming_the_field(live: LiveApi, tmp_path: Path) -> None:
    spec = synthetic_spec(trials=2, sleep_s=0.0)
    spec["search_space"]["units"]["low"] = 9999
    result = tuneq(live, "submit", spec_file(tmp_path, spec), "--wait")
    assert result.returncode == 2
    assert "search_space.units" in result.stderr


def test_yaml_spec_and_timeout_exit_3(live: LiveApi, worker: Any, tmp_path: Path) -> None:
    import yaml

    spec = synthetic_spec(trials=4, sleep_s=2.0, epochs=2)
    path = tmp_path / "slow.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = tuneq(live, "submit", str(path), "--wait", "--timeout", "2s")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "still" in result.stderr


def test_unreachable_or_unauthorized_exits_4(live: LiveApi, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=2, sleep_s=0.0))
    nowhere = tuneq(
        None, "submit", spec, "--url", f"http://127.0.0.1:{free_port()}", "--retries", "1"
    )
    assert nowhere.returncode == 4 and "cannot reach" in nowhere.stderr
    wrong_key = tuneq(live, "submit", spec, key="tq_" + "x" * 43)
    assert wrong_key.returncode == 4 and "not authorized" in wrong_key.stderr


def test_status_trials_best_report_and_datasets(live: LiveApi, worker: Any, tmp_path: Path) -> None:
    import numpy as np

    data = tmp_path / "d.npz"
    np.savez(data, x_train=np.random.default_rng(0).normal(size=(60, 3)), y_train=np.arange(60) % 2)
    upload = tuneq(live, "datasets", "upload", str(data), "--json")
    assert upload.returncode == 0, upload.stderr
    assert json.loads(upload.stdout)["splits"]["train"] == 48
    assert json.loads(upload.stdout)["id"] in tuneq(live, "datasets", "list").stdout

    submitted = tuneq(
        live,
        "submit",
        spec_file(tmp_path, synthetic_spec(trials=2, sleep_s=0.0)),
        "--wait",
        "--json",
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    assert "succeeded, 2/2 trials" in tuneq(live, "status", job_id).stdout
    assert len(json.loads(tuneq(live, "trials", job_id, "--json").stdout)) == 2
    assert "Best configuration" in tuneq(live, "best", job_id).stdout
    saved = tuneq(live, "report", job_id, "--out", str(tmp_path / "report"))
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / "report" / "report.html").stat().st_size > 1000
    assert (tmp_path / "report" / "convergence.png").read_bytes()[:4] == b"\x89PNG"
    assert tuneq(live, "status", "0" * 32).returncode == 2
