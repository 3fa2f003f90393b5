"""API keys and tenants against a real Redis: 401 without a valid key on every route but the
public ones, another tenant's resources answer 404 everywhere, revocation takes effect at once,
and keys are stored only as hashes."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

import pytest
import redis

from service.api.auth import PUBLIC_ENDPOINTS
from service.app import create_app
from service.cli import main
from service.core.settings import Settings
from service.core.store import JobStore, connect

pytestmark = pytest.mark.integration

SAMPLE_ID = "0123456789abcdef0123456789abcdef"


def routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, concrete path, endpoint) for every route of the app."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE_ID if "id" in m.group(1) else "x", rule.rule
        )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, path, rule.endpoint))
    return found


def test_every_private_route_needs_a_valid_key(settings: Settings) -> None:
    app = create_app(settings)
    client = app.test_client()
    private = [r for r in routes(app) if r[2] not in PUBLIC_ENDPOINTS]
    assert len(private) >= 5
    for header in (None, "Bearer", "Basic abc", "Bearer tq_not-a-key", "Bearer " + "x" * 5000):
        headers = {"Authorization": header} if header else {}
        for method, path, _ in private:
            response = client.open(path, method=method, headers=headers, json={})
            assert response.status_code == 401, (method, path, header)
            assert response.get_json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/healthz").status_code == 200
    assert client.get("/nowhere").status_code == 401  # no key: not even whether a path exists


def test_keys_are_stored_only_as_sha256(settings: Settings) -> None:
    store = JobStore(connect(settings.redis_url)).api_keys
    record, secret = store.create("acme", name="ci")
    assert secret.startswith("tq_") and len(secret) >= 3 + 43  # 256 bits, base64url
    dump = b"".join(
        k + repr(redis.Redis.from_url(settings.redis_url).dump(k)).encode()
        for k in redis.Redis.from_url(settings.redis_url).keys("*")
    )
    assert secret.encode() not in dump
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in dump
    assert store.tenant_for(secret) == "acme"
    assert store.tenant_for(secret + "x") is None
    assert [k.id for k in store.list("acme")] == [record.id]


def test_another_tenants_job_is_404_on_every_route(
    settings: Settings, spec: dict[str, Any]
) -> None:
    app = create_app(settings)
    keys = app.extensions["tuneq.store"].api_keys
    _, mine = keys.create("acme")
    _, theirs = keys.create("globex")
    client = app.test_client()
    spec["search"] = {"strategy": "random", "max_trials": 1}
    created = client.post("/v1/jobs", json=spec, headers={"Authorization": f"Bearer {mine}"})
    assert created.status_code == 202
    job_id = created.get_json()["id"]
    checked = 0
    for method, path, _ in routes(app):
        if SAMPLE_ID not in path:
            continue
        path = path.replace(SAMPLE_ID, job_id)
        response = client.open(
            path, method=method, headers={"Authorization": f"Bearer {theirs}"}, json={}
        )
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"]["code"] == "not_found"
        checked += 1
    assert checked >= 4
    mine_now = client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {mine}"})
    assert mine_now.status_code == 200  # nothing the other tenant did touched it


def test_revoked_key_is_refused_at_once(settings: Settings, capsys: Any) -> None:
    env = {"TUNEQ_REDIS_URL": settings.redis_url}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["keys", "create", "--tenant", "acme", "--name", "pipeline"]) == 0
        out = capsys.readouterr().out
        key_id = re.search(r"Created key (\w+)", out).group(1)  # type: ignore[union-attr]
        secret = out.strip().splitlines()[-1]
        client = create_app(settings).test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get(f"/v1/jobs/{SAMPLE_ID}", headers=headers).status_code == 404

        assert main(["keys", "list"]) == 0
        listing = capsys.readouterr().out
        assert key_id in listing and "acme" in listing and "pipeline" in listing
        assert secret not in listing

        assert main(["keys", "revoke", key_id]) == 0
        assert client.get(f"/v1/jobs/{SAMPLE_ID}", headers=headers).status_code == 401
        assert main(["keys", "revoke", key_id]) == 1
        assert main(["keys", "create", "--tenant", "Bad Name"]) == 2


def test_auth_off_is_explicit_and_warned(settings: Settings, caplog: Any) -> None:
    import dataclasses

    with caplog.at_level(logging.WARNING):
        client = create_app(dataclasses.replace(settings, auth_disabled=True)).test_client()
    assert "authentication is OFF" in caplog.text
    assert client.get(f"/v1/jobs/{SAMPLE_ID}").status_code == 404


@pytest.mark.parametrize("field", ["tenant", "status", "created_at", "id", "best"])
def test_clients_cannot_set_server_owned_fields(
    settings: Settings, spec: dict[str, Any], field: str
) -> None:
    client = create_app(settings).test_client()
    _, secret = JobStore(connect(settings.redis_url)).api_keys.create("acme")
    response = client.post(
        "/v1/jobs", json={**spec, field: "globex"}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {field: ["Unknown field."]}
