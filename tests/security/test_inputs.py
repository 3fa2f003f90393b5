"""Attacks 7, 10, 11, 14 and 16: client input that ended in a 500, bodies of the wrong type or
size, what reports and HTML pages let through, and test-only fields in the public document."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from service.app import create_app
from service.core.settings import Settings
from tests.helpers import api_client, synthetic_spec
from tests.security.conftest import Api

pytestmark = pytest.mark.integration

HUGE = 10**400


def changed(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(spec)
    node = body
    *parents, leaf = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("fixed.units", HUGE, "fixed.units"),
        ("fixed.learning_rate", -HUGE, "fixed.learning_rate"),
        ("search_space.units.high", HUGE, "search_space.units.high"),
        ("search_space.learning_rate.low", -HUGE, "search_space.learning_rate.low"),
        ("search_space.batch_size.choices", [16, HUGE], "search_space.batch_size.choices.1"),
        ("search.max_duration_s", HUGE, "search.max_duration_s"),
        ("training.time_limit_s", HUGE, "training.time_limit_s"),
        ("training.hard_time_limit_s", HUGE, "training.hard_time_limit_s"),
        ("training.early_stopping.min_delta", HUGE, "training.early_stopping.min_delta"),
        ("search.lr_range.max_lr", HUGE, "search.lr_range.max_lr"),
        ("search.seed", HUGE, "search.seed"),
        ("search.max_trials", HUGE, "search.max_trials"),
        ("model.input_shape", [HUGE, 1], "model.input_shape.0"),
    ],
)
def test_integers_of_hundreds_of_digits_are_422(
    settings: Settings, spec: dict[str, Any], path: str, value: Any, field: str
) -> None:
    client = api_client(settings)
    body = changed(spec, path, value)
    if path == "fixed.units":
        del body["search_space"]["units"]
    response = client.post(
        "/v1/jobs", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"], response.get_json()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", None, "multipart/form-data"]
)
def test_a_job_must_be_sent_as_json(
    settings: Settings, spec: dict[str, Any], content_type: str | None
) -> None:
    client = api_client(settings)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/v1/jobs", data=json.dumps(spec), headers=headers)
    assert response.status_code == 415, response.get_json()
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert client.get("/v1/jobs").get_json()["jobs"] == []


def test_a_chunked_body_over_the_limit_is_413_not_cut(start_api: Callable[..., Api]) -> None:
    api = start_api()
    body = json.dumps({**synthetic_spec(1, 0.0), "name": "x" * 150, "pad": "y" * 2_000_000})
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {api.key_a}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = body.encode()
        for start in range(0, len(data), 65536):
            chunk = data[start : start + 65536]
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status == 413, answer[:500]
    assert b'"payload_too_large"' in answer


def finished_job_named(settings: Settings, name: str) -> tuple[Any, str]:
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json={**synthetic_spec(1, 0.0), "name": name}).get_json()["id"]
    client.post(f"/v1/jobs/{job_id}/cancel")
    return client, job_id


def test_reports_escape_what_clients_named(settings: Settings) -> None:
    name = "<img src=x onerror=alert(1)> | **bold** [link](javascript:alert(1))"
    client, job_id = finished_job_named(settings, name)
    markdown = client.get(f"/v1/jobs/{job_id}/report?format=markdown").get_data(as_text=True)
    assert "<img" not in markdown and "](javascript:" not in markdown
    assert "&lt;img src=x onerror=alert" in markdown  # shown, escaped
    page = client.get(f"/v1/jobs/{job_id}/report?format=html")
    assert "<img src=x" not in page.get_data(as_text=True)


def test_html_answers_carry_nosniff_and_a_content_security_policy(settings: Settings) -> None:
    client, job_id = finished_job_named(settings, "plain")
    for path in (f"/v1/jobs/{job_id}/report?format=html", "/docs"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src" in policy and "frame-ancestors 'none'" in policy, policy
        assert "unsafe-eval" not in policy
    assert client.get("/v1/jobs").headers["X-Content-Type-Options"] == "nosniff"


def test_test_only_fields_are_not_in_the_public_document(settings: Settings) -> None:
    public = dataclasses.replace(settings, allow_synthetic=False)
    document = create_app(public).test_client().get("/v1/openapi.json").get_data(as_text=True)
    for word in ("crash_trials", "hang_trials", "sleep_s", "synthetic"):
        assert word not in document, word
    testing = create_app(settings).test_client().get("/v1/openapi.json").get_data(as_text=True)
    assert "crash_trials" in testing  # a server that runs the synthetic family documents it
