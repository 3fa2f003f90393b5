"""Attack 3: the request budget belongs to the API key, whatever the spelling of its header and
whichever route it calls; guessing keys is limited per address and leaves nothing in Redis."""

from __future__ import annotations

import dataclasses
import secrets

import pytest
import redis

from service.app import create_app
from service.core.settings import Settings
from service.core.store import JobStore, connect
from tests.helpers import synthetic_spec

pytestmark = pytest.mark.integration


def test_one_budget_per_key_across_spellings_and_routes(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, rate_limit_per_minute=6))
    client = app.test_client()
    _, key = app.extensions["tuneq.store"].api_keys.create("acme")
    job = client.post(
        "/v1/jobs", json=synthetic_spec(1, 0.0), headers={"Authorization": f"Bearer {key}"}
    )
    assert job.status_code == 202
    spellings = [
        f"Bearer {key}",
        f"bearer {key}",
        f"BEARER {key}",
        f"Bearer  {key}",
        f"Bearer {key}\t",
    ]
    paths = [
        "/v1/jobs",
        "/v1/datasets",
        f"/v1/jobs/{job.get_json()['id']}",
        "/v1/jobs",
        "/v1/datasets",
    ]
    answers = [
        client.get(path, headers={"Authorization": spelling}).status_code
        for spelling, path in zip(spellings, paths, strict=True)
    ]
    assert answers == [200] * 5  # six requests in all with the submission
    for spelling, path in zip(spellings, paths, strict=True):
        refused = client.get(path, headers={"Authorization": spelling})
        assert refused.status_code == 429, (spelling, path)
        assert refused.get_json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) > 0
    _, other = app.extensions["tuneq.store"].api_keys.create("acme")
    assert client.get("/v1/jobs", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_guessing_keys_is_limited_per_address_and_stores_nothing_per_guess(
    settings: Settings, redis_client: redis.Redis
) -> None:
    app = create_app(dataclasses.replace(settings, auth_failures_per_minute=10))
    client = app.test_client()
    before = redis_client.dbsize()
    answers = [
        client.get(
            "/v1/jobs", headers={"Authorization": f"Bearer tq_{secrets.token_urlsafe(32)}"}
        ).status_code
        for _ in range(40)
    ]
    assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}
    assert redis_client.dbsize() - before <= 2  # a counter per address, not one per guess
    other = client.get(
        "/v1/jobs",
        headers={"Authorization": "Bearer tq_x"},
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert other.status_code == 401  # another address has its own budget
    store = JobStore(connect(settings.redis_url))
    _, key = store.api_keys.create("acme")
    ok = client.get("/v1/jobs", headers={"Authorization": f"Bearer {key}"})
    assert ok.status_code == 200  # a valid key from the same address still works
