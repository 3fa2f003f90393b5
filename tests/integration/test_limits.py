"""Server limits against a real Redis: requests per key, unfinished jobs per tenant, search
dimensions. Each refusal is a 4xx in the error shape, and a 429 says when to come back."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.core.settings import Settings
from tests.helpers import api_client

pytestmark = pytest.mark.integration


def test_requests_per_minute_per_key(settings: Settings) -> None:
    limited = dataclasses.replace(settings, rate_limit_per_minute=3)
    first, second = api_client(limited, "acme"), api_client(limited, "acme")
    assert [first.get("/v1/jobs").status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get("/v1/jobs")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert second.get("/v1/jobs").status_code == 200  # another key has its own budget
    assert first.get("/healthz").status_code == 200  # probes are never limited


def test_unfinished_jobs_per_tenant(settings: Settings, spec: dict[str, Any]) -> None:
    limited = dataclasses.replace(settings, max_active_jobs_per_tenant=2)
    client = api_client(limited, "acme")
    ids = [client.post("/v1/jobs", json=spec).get_json()["id"] for _ in range(2)]
    refused = client.post("/v1/jobs", json=spec)
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "too_many_jobs"
    assert refused.headers["Retry-After"] == "30"
    assert api_client(limited, "globex").post("/v1/jobs", json=spec).status_code == 202
    client.post(f"/v1/jobs/{ids[0]}/cancel")
    assert client.post("/v1/jobs", json=spec).status_code == 202


def test_search_dimensions(settings: Settings, spec: dict[str, Any]) -> None:
    client = api_client(dataclasses.replace(settings, max_search_dimensions=3))
    response = client.post("/v1/jobs", json=spec)  # it searches four
    assert response.status_code == 422
    assert "search_space" in response.get_json()["error"]["fields"]
