"""Uploaded datasets against a real Redis: content ids, tenants, every refusal with its field,
zip bombs and pickles refused without unpacking them, and a job that tunes on an upload."""

from __future__ import annotations

import dataclasses
import io
import tracemalloc
import zipfile
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import api_client, wait_job

pytestmark = pytest.mark.integration


def npz(**arrays: Any) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def blobs(n: int = 120, classes: int = 3, features: int = 6, seed: int = 0) -> tuple[Any, Any]:
    """Separable Gaussian blobs: a task a tiny MLP learns in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, features)).astype(np.float32) + 3.0 * y[:, None]
    return x, y


def upload(client: FlaskClient, data: bytes, filename: str = "d.npz", **form: str) -> Any:
    return client.post(
        "/v1/datasets",
        data={"file": (io.BytesIO(data), filename), **form},
        content_type="multipart/form-data",
    )


def test_upload_get_list_and_same_content_same_id(settings: Settings) -> None:
    client = api_client(settings)
    x, y = blobs()
    first = upload(client, npz(x_train=x, y_train=y + 10), name="blobs")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert len(body["id"]) == 64 and body["name"] == "blobs"
    assert body["task"] == "classification" and body["classes"] == [10, 11, 12]
    assert body["n_features"] == 6 and body["splits"] == {"train": 96, "test": 24}
    again = upload(client, npz(x_train=x, y_train=y + 10), name="other name")
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]
    assert client.get(f"/v1/datasets/{body['id']}").get_json()["splits"]["train"] == 96
    listed = client.get("/v1/datasets").get_json()["datasets"]
    assert [d["id"] for d in listed] == [body["id"]]

    regression = upload(client, npz(x_train=x, y_train=x[:, 0] * 0.5))
    assert regression.status_code == 201 and regression.get_json()["task"] == "regression"
    images = upload(client, npz(x_train=np.zeros((40, 8, 8)), y_train=np.arange(40) % 2))
    assert images.get_json()["image_shape"] == [8, 8, 1]
    assert images.get_json()["n_features"] == 64


def test_csv_with_a_named_target(settings: Settings) -> None:
    client = api_client(settings)
    rows = "\n".join(f"{i % 7},{i * 0.5},{i % 2}" for i in range(60))
    response = upload(client, f"a,b,label\n{rows}\n".encode(), "d.csv", target="label")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["format"] == "csv" and body["columns"] == ["a", "b"]
    assert body["task"] == "classification" and body["classes"] == [0, 1]


def test_other_tenants_see_nothing(settings: Settings) -> None:
    mine, theirs = api_client(settings, "acme"), api_client(settings, "globex")
    x, y = blobs()
    dataset_id = upload(mine, npz(x_train=x, y_train=y)).get_json()["id"]
    assert theirs.get(f"/v1/datasets/{dataset_id}").status_code == 404
    assert theirs.delete(f"/v1/datasets/{dataset_id}").status_code == 404
    assert theirs.get("/v1/datasets").get_json()["datasets"] == []
    spec = {
        "dataset": {"id": dataset_id},
        "search_space": {"units": {"type": "int", "low": 2, "high": 8}},
    }
    refused = theirs.post("/v1/jobs", json=spec)
    assert refused.status_code == 422
    assert "dataset.id" in refused.get_json()["error"]["fields"]
    assert mine.get(f"/v1/datasets/{dataset_id}").status_code == 200


def zip_with(name: str, payload: bytes, declared_header: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, (declared_header or b"") + payload)
    return buffer.getvalue()


def _header(shape: tuple[int, ...], descr: str) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def pickled_npz() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    x = io.BytesIO()
    np.save(x, np.zeros((2, 2)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("x_train.npy", x.getvalue())
        archive.writestr("y_train.npy", buffer.getvalue())
    return out.getvalue()


X, Y = blobs()
INVALID = [
    ("empty", b"", "d.npz", {}, "file"),
    ("not a zip", b"hello", "d.npz", {}, "file"),
    ("unknown format", b"1,2", "d.txt", {}, "file"),
    ("pickled labels", pickled_npz(), "d.npz", {}, "y_train"),
    (
        "strings as labels",
        npz(x_train=X, y_train=np.array(["a", "b", "c"] * 40)),
        "d.npz",
        {},
        "y_train",
    ),
    (
        "strings as features",
        npz(x_train=np.array([["a"]] * 120), y_train=Y),
        "d.npz",
        {},
        "x_train",
    ),
    ("nan", npz(x_train=np.where(X > 5, np.nan, X), y_train=Y), "d.npz", {}, "x_train"),
    ("inf label", npz(x_train=X, y_train=np.r_[Y[:-1], np.inf]), "d.npz", {}, "y_train"),
    ("lengths", npz(x_train=X, y_train=Y[:-3]), "d.npz", {}, "y_train"),
    ("missing y", npz(x_train=X), "d.npz", {}, "y_train"),
    ("x_val without y_val", npz(x_train=X, y_train=Y, x_val=X), "d.npz", {}, "y_val"),
    (
        "other features in test",
        npz(x_train=X, y_train=Y, x_test=X[:, :2], y_test=Y),
        "d.npz",
        {},
        "x_test",
    ),
    ("unknown array", npz(x_train=X, y_train=Y, weights=Y), "d.npz", {}, "file"),
    ("rare class", npz(x_train=X, y_train=np.r_[Y[:-3] % 2, 2, 2, 2]), "d.npz", {}, "y_train"),
    (
        "one class",
        npz(x_train=X, y_train=np.zeros(120, dtype=int)),
        "d.npz",
        {"task": "classification"},
        "y_train",
    ),
    (
        "fractional classes",
        npz(x_train=X, y_train=Y * 0.5),
        "d.npz",
        {"task": "classification"},
        "y_train",
    ),
    ("bad task", npz(x_train=X, y_train=Y), "d.npz", {"task": "ranking"}, "task"),
    ("target for npz", npz(x_train=X, y_train=Y), "d.npz", {"target": "y"}, "target"),
    ("unknown form field", npz(x_train=X, y_train=Y), "d.npz", {"tenant": "globex"}, "tenant"),
    (
        "csv text declared numeric",
        b"a,target\n1,0\nx,1\n",
        "d.csv",
        {"column_types": '{"a": "numeric"}'},
        "a",
    ),
    (
        "csv not a boolean",
        b"a,target\nyes,0\nmaybe,1\n",
        "d.csv",
        {"column_types": '{"a": "boolean"}'},
        "a",
    ),
    ("csv empty label", b"a,target\nx,0\ny,\n", "d.csv", {}, "target"),
    (
        "csv string labels for regression",
        b"a,target\n1,0\n2,x\n",
        "d.csv",
        {"task": "regression"},
        "target",
    ),
    ("column_types not JSON", b"a,target\n1,0\n", "d.csv", {"column_types": "{a"}, "column_types"),
    (
        "column_types not an object",
        b"a,target\n1,0\n",
        "d.csv",
        {"column_types": "[1]"},
        "column_types",
    ),
    (
        "column_types unknown column",
        b"a,target\n1,0\n",
        "d.csv",
        {"column_types": '{"b": "numeric"}'},
        "column_types.b",
    ),
    (
        "column_types unknown kind",
        b"a,target\n1,0\n",
        "d.csv",
        {"column_types": '{"a": "date"}'},
        "column_types.a",
    ),
    (
        "column_types on the label",
        b"a,target\n1,0\n",
        "d.csv",
        {"column_types": '{"target": "numeric"}'},
        "column_types.target",
    ),
    (
        "column_types for npz",
        npz(x_train=X, y_train=Y),
        "d.npz",
        {"column_types": '{"a": "numeric"}'},
        "column_types",
    ),
    (
        "column_types nested",
        b"a,target\n1,0\n",
        "d.csv",
        {"column_types": "[" * 3000},
        "column_types",
    ),
    ("every column ignored", b"a,target\n,0\n,1\n", "d.csv", {}, "file"),
    ("csv ragged", b"a,b,target\n1,2,0\n1,2\n", "d.csv", {}, "file"),
    ("csv no target", b"a,b\n1,2\n", "d.csv", {}, "target"),
    ("csv no rows", b"a,target\n", "d.csv", {}, "file"),
    (
        "header claims a huge array",
        zip_with("x_train.npy", b"\0" * 64, _header((10**9, 10**3), "<f8")),
        "d.npz",
        {},
        "x_train",
    ),
    (
        "object dtype header",
        zip_with("x_train.npy", b"\0" * 64, _header((4,), "|O")),
        "d.npz",
        {},
        "x_train",
    ),
]


@pytest.mark.parametrize(
    ("data", "filename", "form", "field"),
    [case[1:] for case in INVALID],
    ids=[case[0] for case in INVALID],
)
def test_invalid_uploads_name_the_problem(
    settings: Settings, data: bytes, filename: str, form: dict[str, str], field: str
) -> None:
    client = api_client(settings)
    response = upload(client, data, filename, **form)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert field in error["fields"], error
    assert client.get("/v1/datasets").get_json()["datasets"] == []  # nothing half-stored


def test_zip_bomb_is_refused_without_unpacking(settings: Settings) -> None:
    small = dataclasses.replace(settings, max_dataset_bytes=1024 * 1024)
    client = api_client(small)
    bomb = zip_with(
        "x_train.npy", b"\0" * (200 * 1024 * 1024), _header((200 * 1024 * 1024 // 8,), "<f8")
    )
    assert len(bomb) < 1024 * 1024  # 200 MiB of zeros packs into a few hundred KiB
    tracemalloc.start()
    try:
        response = upload(client, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["fields"]
    assert peak < 20 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"


def test_over_the_size_limit_is_413_before_reading(settings: Settings) -> None:
    client = api_client(dataclasses.replace(settings, max_dataset_bytes=10_000))
    response = upload(client, b"\0" * 200_000)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    unsent = client.post(
        "/v1/datasets",
        input_stream=io.BytesIO(b""),
        content_type="multipart/form-data; boundary=x",
        environ_overrides={"CONTENT_LENGTH": str(10**9)},
    )
    assert unsent.status_code == 413  # refused from the header alone: no body was sent


def test_folds_bounded_by_the_rarest_class(settings: Settings, spec: dict[str, Any]) -> None:
    client = api_client(settings)
    x, y = blobs(n=60)
    dataset_id = upload(client, npz(x_train=x, y_train=y)).get_json()["id"]  # 16 per class
    spec["dataset"] = {"id": dataset_id}
    spec["training"]["validation"] = {"method": "kfold", "folds": 20}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert "training.validation.folds" in response.get_json()["error"]["fields"]
    spec["training"]["validation"] = {"method": "dataset"}
    response = client.post("/v1/jobs", json=spec)
    assert "training.validation.method" in response.get_json()["error"]["fields"]
    spec["training"]["validation"] = {"split": 0.2}
    spec["search"]["finalist_folds"] = 17  # the finalists' second look is bounded too
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert "search.finalist_folds" in response.get_json()["error"]["fields"]


def test_a_job_tunes_on_an_uploaded_dataset(
    settings: Settings, store: JobStore, worker: Any, spec: dict[str, Any]
) -> None:
    client = api_client(settings)
    x, y = blobs(n=150)
    x_val, y_val = blobs(n=30, seed=1)
    dataset_id = upload(client, npz(x_train=x, y_train=y, x_val=x_val, y_val=y_val)).get_json()[
        "id"
    ]
    spec["dataset"] = {"id": dataset_id}
    spec["training"]["validation"] = {"method": "dataset"}
    spec["search"] = {"strategy": "random", "max_trials": 2, "seed": 1}
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    busy = client.delete(f"/v1/datasets/{dataset_id}")
    assert busy.status_code == 409  # the job is queued or running on it

    assert wait_job(store, job_id, timeout_s=180).status.value == "succeeded"
    job = client.get(f"/v1/jobs/{job_id}").get_json()
    assert job["best"]["metrics"]["val_accuracy"] > 0.6
    assert "test_accuracy" in job["best"]["metrics"]

    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert client.get(f"/v1/datasets/{dataset_id}").status_code == 404
    assert client.post("/v1/jobs", json=spec).status_code == 422
