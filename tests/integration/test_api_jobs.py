"""The jobs API against a real Redis (no worker): cancel, listing, delete, idempotent submit."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from service.app import create_app
from service.core.records import JobStatus
from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import api_client

pytestmark = pytest.mark.integration


def test_cancel_is_idempotent_and_refuses_finished_jobs(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    client = api_client(settings)
    assert client.post("/v1/jobs/" + "0" * 32 + "/cancel").status_code == 404
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    for _ in range(2):
        response = client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 200
        assert response.get_json()["status"] == "cancelled"
    assert [e["status"] for e in response.get_json()["status_history"]] == ["queued", "cancelled"]

    done_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    store.jobs.set_status(done_id, JobStatus.SUCCEEDED, (JobStatus.QUEUED,))
    conflict = client.post(f"/v1/jobs/{done_id}/cancel")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "conflict"


def test_list_pages_newest_first_with_filters(settings: Settings, spec: dict[str, Any]) -> None:
    client = api_client(settings)
    ids = []
    for i in range(7):
        spec["name"] = "even" if i % 2 == 0 else "odd"
        ids.append(client.post("/v1/jobs", json=spec).get_json()["id"])
    for job_id in ids[:2]:
        client.post(f"/v1/jobs/{job_id}/cancel")
    api_client(settings, "globex").post("/v1/jobs", json=spec)  # another tenant's: never listed

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/jobs", query_string=query).get_json()
        seen += [job["id"] for job in body["jobs"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1] and pages == 3
    first = client.get("/v1/jobs").get_json()["jobs"][0]
    assert first["status"] == "queued" and first["progress"]["trials_total"] == 5

    cancelled = client.get("/v1/jobs?status=cancelled").get_json()["jobs"]
    assert [job["id"] for job in cancelled] == ids[:2][::-1]
    odd = client.get("/v1/jobs?name=odd").get_json()["jobs"]
    assert [job["id"] for job in odd] == [ids[5], ids[3], ids[1]]
    for bad, field in (
        ("cursor=abc", "cursor"),
        ("limit=0", "limit"),
        ("status=done", "status"),
        ("colour=red", "colour"),
    ):
        response = client.get(f"/v1/jobs?{bad}")
        assert response.status_code == 422, bad
        assert field in response.get_json()["error"]["fields"], bad


def test_delete_only_finished_jobs(
    settings: Settings, redis_client: redis.Redis, spec: dict[str, Any]
) -> None:
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    busy = client.delete(f"/v1/jobs/{job_id}")
    assert busy.status_code == 409 and busy.get_json()["error"]["code"] == "conflict"
    client.post(f"/v1/jobs/{job_id}/cancel")
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 204
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 404
    assert not redis_client.keys(f"*{job_id}*")
    assert client.get("/v1/jobs").get_json()["jobs"] == []


def test_idempotency_key_returns_the_same_job(settings: Settings, spec: dict[str, Any]) -> None:
    client = api_client(settings)
    headers = {"Idempotency-Key": "build-4711"}
    first = client.post("/v1/jobs", json=spec, headers=headers)
    again = client.post("/v1/jobs", json=dict(reversed(spec.items())), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/v1/jobs").get_json()["jobs"]) == 1

    spec["name"] = "changed"
    other = client.post("/v1/jobs", json=spec, headers=headers)
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "conflict"

    elsewhere = api_client(settings, "globex").post("/v1/jobs", json=spec, headers=headers)
    assert elsewhere.status_code == 202 and elsewhere.get_json()["id"] != first.get_json()["id"]

    invalid = {**spec, "search": {"max_trials": -1}}
    fresh = {"Idempotency-Key": "build-4712"}
    assert client.post("/v1/jobs", json=invalid, headers=fresh).status_code == 422
    assert client.post("/v1/jobs", json=spec, headers=fresh).status_code == 202  # key released
    bad = client.post("/v1/jobs", json=spec, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400


def test_a_cached_view_is_never_stale_nor_another_tenants(
    settings: Settings, spec: dict[str, Any]
) -> None:
    """One process serves both tenants, so the second reads through the first's cached view."""
    app = create_app(settings)
    keys = app.extensions["tuneq.store"].api_keys
    mine = {"Authorization": f"Bearer {keys.create('acme')[1]}"}
    theirs = {"Authorization": f"Bearer {keys.create('globex')[1]}"}
    client = app.test_client()
    job_id = client.post("/v1/jobs", json=spec, headers=mine).get_json()["id"]
    first = client.get(f"/v1/jobs/{job_id}", headers=mine)
    assert first.status_code == 200 and first.get_json()["status"] == "queued"
    assert client.get(f"/v1/jobs/{job_id}", headers=theirs).status_code == 404
    unchanged = {**mine, "If-None-Match": first.headers["ETag"]}
    assert client.get(f"/v1/jobs/{job_id}", headers=unchanged).status_code == 304

    client.post(f"/v1/jobs/{job_id}/cancel", json={"refit": False}, headers=mine)
    after = client.get(f"/v1/jobs/{job_id}", headers=unchanged)
    assert after.status_code == 200 and after.get_json()["status"] == "cancelled"
    assert after.headers["ETag"] != first.headers["ETag"]
    assert client.get(f"/v1/jobs/{job_id}", headers=theirs).status_code == 404

    assert client.delete(f"/v1/jobs/{job_id}", headers=mine).status_code == 204
    assert client.get(f"/v1/jobs/{job_id}", headers=mine).status_code == 404


def test_one_trial_by_its_number(settings: Settings, store: JobStore, spec: dict[str, Any]) -> None:
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    assert client.get(f"/v1/jobs/{job_id}/trials/0").status_code == 404  # none made yet
    store.trials.add(job_id, [{"units": 32}, {"units": 64}])
    trial = client.get(f"/v1/jobs/{job_id}/trials/1")
    assert trial.status_code == 200
    assert trial.get_json()["params"] == {"units": 64}
    assert trial.get_json() == client.get(f"/v1/jobs/{job_id}/trials").get_json()["trials"][1]
    for path in ("2", "99999999999999999999", "-1", "x"):
        assert client.get(f"/v1/jobs/{job_id}/trials/{path}").status_code == 404, path
    assert api_client(settings, "globex").get(f"/v1/jobs/{job_id}/trials/1").status_code == 404
