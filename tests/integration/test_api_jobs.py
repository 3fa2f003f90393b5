"""The jobs API against a real Redis (no worker): cancel's answers."""

from __future__ import annotations

from typing import Any

import pytest

from service.app import create_app
from service.core.records import JobStatus
from service.core.settings import Settings
from service.core.store import JobStore

pytestmark = pytest.mark.integration


def test_cancel_is_idempotent_and_refuses_finished_jobs(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    client = create_app(settings).test_client()
    assert client.post("/v1/jobs/" + "0" * 32 + "/cancel").status_code == 404
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    for _ in range(2):
        response = client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 200
        assert response.get_json()["status"] == "cancelled"
    assert [e["status"] for e in response.get_json()["status_history"]] == ["queued", "cancelled"]

    done_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    store.set_status(done_id, JobStatus.SUCCEEDED, (JobStatus.QUEUED,))
    conflict = client.post(f"/v1/jobs/{done_id}/cancel")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["code"] == "conflict"
