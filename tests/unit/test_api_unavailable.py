"""With Redis unreachable the API answers 503 in the error shape, quickly, never 500."""

from __future__ import annotations

from typing import Any

from service.app import create_app
from service.core.settings import Settings
from service.devstack import free_port


def test_redis_down_gives_503(spec: dict[str, Any]) -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=0.5)
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = "Bearer tq_" + "x" * 43  # checking it needs Redis
    for response in (
        client.get("/v1/jobs/" + "a" * 32),
        client.get("/v1/jobs/" + "a" * 32 + "/trials"),
        client.post("/v1/jobs", json=spec),
        client.get("/readyz"),
    ):
        assert response.status_code == 503
        body = response.get_json()
        assert body["error"]["code"] == "unavailable"
        assert response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200
