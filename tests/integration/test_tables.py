"""A table as users have it, through the real stack: upload a CSV with string, boolean and empty
cells and named classes, tune on a real Celery worker, download the model, and predict the test
rows from raw values with the accuracy the service reported."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from service.core.dataset_files import UploadLimits, parse_upload
from service.core.settings import Settings
from tests.helpers import api_client
from tests.integration.test_end_to_end import wait_for
from tests.tables import messy_csv

pytestmark = pytest.mark.integration

COLUMNS = {
    "income": "float32", "city": "string", "member": "string", "verified": "float32",
    "rooms": "float32", "note": "string",
}  # fmt: skip


def upload_table(client: Any, data: bytes, **form: str) -> dict[str, Any]:
    response = client.post(
        "/v1/datasets",
        data={"file": (io.BytesIO(data), "people.csv"), "target": "grade", **form},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def table_job(dataset_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "messy-table",
        "dataset": {"id": dataset_id},
        "model": {"family": "mlp"},
        "search_space": {
            "categorical_encoding": {"type": "categorical", "choices": ["one_hot", "embedding"]},
            "learning_rate": {"type": "float", "low": 3e-3, "high": 3e-2, "log": True},
        },
        "fixed": {"n_layers": 1, "units": 16, "class_weight": "balanced"},
        "training": {
            "max_epochs": 8,
            "early_stopping": {"patience": 3},
            "objective": {"metric": "val_balanced_accuracy", "direction": "max"},
        },
        "search": {"strategy": "random", "max_trials": 3, "seed": 3},
        **overrides,
    }


def test_a_messy_table_uploads_tunes_and_exports_a_model_for_raw_rows(
    settings: Settings, worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    client = api_client(settings)
    data = messy_csv()
    dataset = upload_table(client, data)
    assert dataset["class_names"] == ["high", "low", "mid"]
    kinds = {c["name"]: c["kind"] for c in dataset["column_kinds"]}
    assert kinds["row_id"] == "ignore" and kinds["city"] == "categorical"
    assert dataset["model_input"] == {"type": "columns", "columns": COLUMNS}

    response = client.post("/v1/jobs", json=table_job(dataset["id"]))
    assert response.status_code == 202, response.get_json()
    job, _ = wait_for(client, response.get_json()["id"])
    assert job["status"] == "succeeded", job["error"]
    model = client.get(f"{job['links']['model']}").data
    assert job["model"] == {
        "input": dataset["model_input"],
        "class_names": ["high", "low", "mid"],
        "bytes": len(model),  # the kept model's size, what the job page's download offers
    }
    assert job["summary"]["refit"]["model_input"] == dataset["model_input"]
    trials = client.get(f"{job['links']['self']}/trials").get_json()["trials"]
    assert all(t["state"] == "completed" for t in trials), [t["error"] for t in trials]
    assert {"val_balanced_accuracy", "val_f1", "val_auc"} <= set(trials[0]["metrics"])
    reported = job["best"]["metrics"]["test_accuracy"]

    model = client.get(job["links"]["model"])
    assert model.status_code == 200
    path = tmp_path / "model.keras"  # the name the README's example reads
    path.write_bytes(model.data)
    loaded = keras.saving.load_model(path)
    with zipfile.ZipFile(path) as archive:
        names = json.loads(archive.read("tuneq.json"))["class_names"]
    # the test rows the service held out, as raw columns (the same cut, from the same file)
    held = parse_upload(data, "people.csv", UploadLimits(), target="grade")
    floats, strings = held.arrays["x_test"], held.arrays["s_test"]
    table = held.table or []
    rows = {
        str(c["name"]): floats[:, int(c["position"])]  # type: ignore[call-overload]
        if c["input"] == "float32"
        else strings[:, int(c["position"])].astype(object)  # type: ignore[call-overload]
        for c in table
        if c.get("input")
    }
    predicted = np.asarray(loaded(rows)).argmax(axis=1)
    accuracy = float(np.mean(predicted == held.arrays["y_test"]))
    assert accuracy == pytest.approx(reported, abs=1e-6)
    assert names == held.classes

    # the README's five lines, run as written on the test rows saved as a CSV
    (tmp_path / "new.csv").write_text(as_csv(rows))
    printed = run_readme_snippet(tmp_path)
    assert printed == [names[i] for i in predicted]


def as_csv(columns: dict[str, np.ndarray]) -> str:
    """Raw columns as a CSV a user would have: empty cells for NaN and empty strings."""
    lines = [",".join(columns)]
    for values in zip(*columns.values(), strict=True):
        lines.append(",".join("" if v != v or v == "" else str(v) for v in values))
    return "\n".join(lines) + "\n"


def run_readme_snippet(folder: Path) -> list[str]:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("```python\nimport json, zipfile, keras, pandas as pd")
    code = readme[start + len("```python\n") : readme.index("```", start + 10)]
    out = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # the README example, as written
    return ast.literal_eval(out.getvalue().strip())


def test_specs_that_do_not_fit_a_table_name_the_field(settings: Settings) -> None:
    client = api_client(settings)
    dataset = upload_table(client, messy_csv(rows=80))
    conv = table_job(dataset["id"], model={"family": "conv1d"})
    response = client.post("/v1/jobs", json=conv)
    assert response.status_code == 422
    assert "model.family" in response.get_json()["error"]["fields"]
    iris = table_job("unused", dataset={"builtin": "iris"})
    iris["training"]["objective"] = {"metric": "val_accuracy", "direction": "max"}
    response = client.post("/v1/jobs", json=iris)
    assert response.status_code == 422
    fields = response.get_json()["error"]["fields"]
    assert "search_space.categorical_encoding" in fields, fields
