"""``tuneq submit`` as another project's CI runs it, against a live stack over HTTP: the exit
code is the gate (0 passed, 1 threshold missed, 2 invalid or failed, 3 timed out, 4 unreachable
or unauthorized) and the JUnit file says which threshold failed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
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


def start_tuneq(api: LiveApi, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TUNEQ_URL": api.url, "TUNEQ_API_KEY": api.key}
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def junit_error(path: Path) -> tuple[str | None, str | None]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    error = suite.find("testcase/error")
    return (error.get("type"), error.get("message")) if error is not None else (None, None)


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGTERM,), (signal.SIGINT,), (signal.SIGINT, signal.SIGTERM)],
    ids=["SIGTERM", "SIGINT", "SIGINT-then-SIGTERM"],  # the last: how GitHub Actions cancels
)
def test_a_cancelled_ci_run_cancels_its_job_and_still_writes_junit(
    live: LiveApi, worker: Any, tmp_path: Path, signals: tuple[signal.Signals, ...]
) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=20, sleep_s=2.0, epochs=4))
    report = tmp_path / "junit.xml"
    proc = start_tuneq(live, "submit", spec, "--fail-under", "val_accuracy=0.5",
                       "--junit", str(report))  # fmt: skip
    deadline = time.monotonic() + 60
    while not json.loads(tuneq(live, "jobs", "--json").stdout or "[]"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    time.sleep(1.0)  # waiting on the job now
    for sig in signals:
        proc.send_signal(sig)
        time.sleep(0.02)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 5, out + err
    assert "Traceback" not in err
    job_id = json.loads(tuneq(live, "jobs", "--json").stdout)[0]["id"]
    lines = [line for line in err.splitlines() if line.startswith("tuneq: interrupted")]
    assert len(lines) == 1 and f"job {job_id} cancelled" in lines[0], err
    assert json.loads(tuneq(live, "status", job_id, "--json").stdout)["status"] == "cancelled"
    kind, message = junit_error(report)
    assert kind == "interrupted" and signals[0].name in (message or "")
    assert f"job {job_id} cancelled" in (message or "")  # rewritten once the cancel answered


def test_detach_on_interrupt_leaves_the_job_running(
    live: LiveApi, tmp_path: Path
) -> None:  # no worker: the job stays queued
    spec = spec_file(tmp_path, synthetic_spec(trials=2, sleep_s=0.0))
    proc = start_tuneq(live, "submit", spec, "--wait", "--detach-on-interrupt")
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 5 and "goes on" in err, err
    (job,) = json.loads(tuneq(live, "jobs", "--json").stdout)
    assert job["status"] == "queued"


def test_an_interrupted_watch_leaves_the_job_running(live: LiveApi, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=2, sleep_s=0.0))  # no worker: stays queued
    job_id = json.loads(tuneq(live, "submit", spec, "--json").stdout)["id"]
    proc = start_tuneq(live, "watch", job_id, "--junit", str(tmp_path / "w.xml"))
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 5 and f"job {job_id} goes on" in err, err
    assert json.loads(tuneq(live, "status", job_id, "--json").stdout)["status"] == "queued"
    assert junit_error(tmp_path / "w.xml")[0] == "interrupted"
    gone = tuneq(live, "watch", "0" * 32, "--junit", str(tmp_path / "g.xml"))
    assert gone.returncode == 2 and junit_error(tmp_path / "g.xml")[0] == "refused"


def test_timeout_and_unreachable_still_write_junit(live: LiveApi, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=2, sleep_s=0.0))
    slow = tuneq(live, "submit", spec, "--timeout", "2s", "--junit", str(tmp_path / "t.xml"))
    assert slow.returncode == 3, slow.stderr
    assert junit_error(tmp_path / "t.xml")[0] == "timeout"
    nowhere = tuneq(
        None, "submit", spec, "--url", f"http://127.0.0.1:{free_port()}", "--retries", "0",
        "--junit", str(tmp_path / "u.xml"),
    )  # fmt: skip
    assert nowhere.returncode == 4, nowhere.stderr
    kind, message = junit_error(tmp_path / "u.xml")
    assert kind == "unreachable" and "cannot reach" in (message or "")


def test_a_misspelt_gate_metric_is_refused_before_the_job(live: LiveApi, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=2, sleep_s=0.0))
    result = tuneq(live, "submit", spec, "--fail-under", "test_acc=0.9")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Did you mean test_accuracy?" in result.stderr
    assert json.loads(tuneq(live, "jobs", "--json").stdout) == []  # nothing was submitted


def test_a_malformed_yaml_spec_names_line_and_column(live: LiveApi, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("dataset:\n  builtin: digits\nsearch: [unclosed\n")
    result = tuneq(live, "submit", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) <= 2
    assert re.search(r"spec\.yaml: line \d+, column \d+", result.stderr), result.stderr


def test_misspelt_names_get_a_suggestion(live: LiveApi, tmp_path: Path) -> None:
    spec = synthetic_spec(trials=2, sleep_s=0.0)
    spec["search_space"]["lerning_rate"] = spec["search_space"].pop("learning_rate")
    spec["serch"] = spec.pop("search")
    result = tuneq(live, "submit", spec_file(tmp_path, spec))
    assert result.returncode == 2
    assert "search_space.lerning_rate: Unknown hyperparameter. Did you mean 'learning_rate'?" in (
        result.stderr
    )
    assert "serch: Unknown field. Did you mean 'search'?" in result.stderr


def test_jobs_watch_model_delete_and_tables(live: LiveApi, worker: Any, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, {**synthetic_spec(trials=3, sleep_s=0.0), "name": "cli-demo"})
    job_id = json.loads(tuneq(live, "submit", spec, "--json").stdout)["id"]
    watched = tuneq(live, "watch", job_id)
    assert watched.returncode == 0, watched.stderr
    assert "Objective: maximize val_accuracy" in watched.stdout
    listed = tuneq(live, "jobs").stdout.splitlines()
    assert listed[0].split() == ["id", "name", "status", "trials", "best", "created", "(UTC)"]
    assert job_id in listed[1] and "3/3" in listed[1]
    table = tuneq(live, "trials", job_id).stdout.splitlines()
    assert table[0].split()[:4] == ["trial", "state", "value", "epochs"]
    assert len({line.index("completed") for line in table[1:]}) == 1  # aligned
    assert all(len(value.split(".")[-1]) <= 4 for line in table[1:] for value in line.split()[2:3])
    missing = tuneq(live, "model", job_id, "-o", str(tmp_path / "m.keras"))
    assert missing.returncode == 2 and "no model" in missing.stderr  # synthetic: none kept
    assert tuneq(live, "delete", job_id).returncode == 0
    assert tuneq(live, "status", job_id).returncode == 2  # gone


def test_every_command_says_where_the_server_and_key_come_from() -> None:
    for command in ("submit", "watch", "jobs", "status", "trials", "best", "model", "delete"):
        shown = tuneq(None, command, "--help").stdout
        for needed in ("TUNEQ_URL", "TUNEQ_API_KEY", "exit codes", "5  interrupted"):
            assert needed in shown, (command, needed)


def test_the_base_install_is_the_client_alone() -> None:
    """What ``pip install tuneq`` pulls: PyYAML (for YAML specs), nothing else."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert [re.split(r"[<>=\[ ;]", d)[0] for d in project["project"]["dependencies"]] == ["pyyaml"]


def test_the_client_needs_nothing_but_the_standard_library() -> None:
    """``python -S``: no site-packages at all, so no Flask, Celery, Redis, NumPy or YAML."""
    probe = (
        "import sys\n"
        "from service.cli import main\n"
        "code = main(['status', 'x', '--url', 'http://127.0.0.1:9', '--retries', '0'])\n"
        "heavy = {'flask', 'celery', 'redis', 'marshmallow', 'numpy', 'yaml', 'werkzeug'}\n"
        "print(code, sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert result.stdout.strip() == "4 []", result.stdout + result.stderr


def test_model_download_and_range_test_summary(live: LiveApi, worker: Any, tmp_path: Path) -> None:
    """A real (tiny) MLP: its model downloads as a .keras archive; a range test's ``--wait``
    summary and ``tuneq best`` both print the suggested rate and search range."""
    mlp = {
        "dataset": {"builtin": "iris"},
        "model": {"family": "mlp"},
        "search_space": {"units": {"type": "int", "low": 8, "high": 16}},
        "training": {"max_epochs": 2},
        "search": {"strategy": "random", "max_trials": 1, "seed": 0},
    }
    done = tuneq(live, "submit", spec_file(tmp_path, mlp), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    saved = tuneq(live, "model", json.loads(done.stdout)["id"], "-o", str(tmp_path / "m.keras"))
    assert saved.returncode == 0, saved.stderr
    assert (tmp_path / "m.keras").read_bytes()[:2] == b"PK"  # a zip: the .keras format

    ranged = {**mlp, "search_space": {}, "search": {"strategy": "lr_range_test"}}
    waited = tuneq(live, "submit", spec_file(tmp_path, ranged, "range.json"), "--wait")
    assert waited.returncode == 0, waited.stderr
    assert "Suggested learning rate:" in waited.stdout
    assert '"learning_rate": {"type": "float"' in waited.stdout
    job_id = re.search(r"Job (\w{32}) succeeded", waited.stdout).group(1)  # type: ignore[union-attr]
    best = tuneq(live, "best", job_id).stdout
    assert "Suggested search range:" in best and "log scale" in best


def test_cancel_ships_the_best_and_watch_shows_it(
    live: LiveApi, worker: Any, tmp_path: Path
) -> None:
    spec = spec_file(tmp_path, synthetic_spec(trials=40, sleep_s=0.3, epochs=3))
    job_id = json.loads(tuneq(live, "submit", spec, "--json").stdout)["id"]
    deadline = time.monotonic() + 60
    while '"trials_finished": 0' in (shown := tuneq(live, "status", job_id, "--json").stdout):
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    cancelled = tuneq(live, "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"{job_id}: stopping. Its best trial" in cancelled.stdout
    watched = tuneq(live, "watch", job_id)
    assert watched.returncode == 2  # it ended cancelled, not passed
    assert f"Job {job_id} cancelled." in watched.stdout
    assert re.search(r"accuracy\s+\d\.\d{4}\s+\d\.\d{4}", watched.stdout), watched.stdout  # test


def test_a_table_uploads_from_the_cli_with_its_columns_shown(live: LiveApi, tmp_path: Path) -> None:
    from tests.tables import messy_csv

    data = tmp_path / "people.csv"
    data.write_bytes(messy_csv(rows=80))
    shown = tuneq(live, "datasets", "upload", str(data), "--target", "grade",
                  "--column", "note=ignore", "--column", "rooms=numeric")  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "classes: high, low, mid" in lines
    assert any(re.fullmatch(r"\s+note\s+ignore \(as declared\)", line) for line in lines), lines
    assert any(re.fullmatch(r"\s+rooms\s+numeric, \d+ empty", line) for line in lines), lines
    assert any("row_id" in line and "id-like" in line for line in lines), lines
    bad = tuneq(live, "datasets", "upload", str(data), "--column", "note")
    assert bad.returncode == 2 and "NAME=KIND" in bad.stderr
    wrong = tuneq(live, "datasets", "upload", str(data), "--target", "grade",
                  "--column", "note=date")  # fmt: skip
    assert wrong.returncode != 0 and "column_types.note" in wrong.stderr
