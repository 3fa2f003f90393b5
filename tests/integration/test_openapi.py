"""The OpenAPI document: valid, in step with the app's routes, and true of the live app.

schemathesis generates requests from the document (valid and invalid ones, with a fixed seed)
against the app on a real Redis and checks every response: no server error, a documented status
code and content type, a body that matches its schema.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode

from service.api.openapi import OPERATIONS
from service.app import create_app
from service.core.settings import Settings

pytestmark = pytest.mark.integration

CASES_PER_OPERATION = 40  # for each operation, valid and invalid inputs


def test_document_is_valid_openapi(settings: Settings) -> None:
    document = create_app(settings).test_client().get("/v1/openapi.json").get_json()
    validate(document)
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]


def test_routes_and_document_agree(settings: Settings) -> None:
    app = create_app(settings)
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(OPERATIONS)
    for (path, method), operation in OPERATIONS.items():
        codes = set(operation["responses"])
        if operation.get("security") != []:
            assert 401 in codes, (path, method)
        if method == "post":
            assert 422 in codes or path == "/v1/jobs/{job_id}/cancel", (path, method)


@pytest.fixture
def live_app(settings: Settings) -> Any:
    # budgets far above what the fuzzing sends: schemathesis also checks that invalid keys get
    # 401, which the per-address limit on failed authentication turns into 429 past 60 a minute
    return create_app(
        dataclasses.replace(settings, rate_limit_per_minute=100_000, auth_failures_per_minute=0)
    )


def test_live_app_keeps_its_document(live_app: Any) -> None:
    """Every operation, up to ``CASES_PER_OPERATION`` valid and as many invalid cases, seeded
    (operations with few possible inputs run fewer)."""
    store = live_app.extensions["tuneq.store"]
    _, secret = store.api_keys.create("fuzz")
    store.fleet.heartbeat("fuzz@host", at=time.time() + 3600)  # a live worker: /readyz is 200
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", live_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert labels | {"GET /v1/openapi.json"} == {f"{m.upper()} {p}" for p, m in OPERATIONS}
    calls = []

    for operation, mode in itertools.product(operations, GenerationMode):

        @seed(20261124)
        @hypothesis_settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy(mode))
        def check(case: Any) -> None:
            calls.append(case.operation.label)
            case.call_and_validate(
                headers={"Authorization": f"Bearer {secret}"},
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        try:
            check()
        except Unsatisfiable:  # no invalid input exists (an operation without parameters)
            assert mode == GenerationMode.NEGATIVE, operation.label
    print(f"schemathesis: {len(calls)} cases")
    assert len(calls) >= 500, len(calls)


HUGE = st.sampled_from([10**400, -(10**400), 2**63, 2**64 + 1, 10**20, -(2**53) - 1])
HEADERS = st.sampled_from(
    [
        {},
        {"Last-Event-ID": "99999999999999999999-0"},
        {"Last-Event-ID": "18446744073709551616-18446744073709551616"},
        {"If-None-Match": '"' + "f" * 5000 + '"'},
        {"If-None-Match": "*"},
        {"Idempotency-Key": "k" * 300},
        {"Accept": "text/markdown;q=1e400, */*;q=-1"},
        {"Content-Type": "application/json; charset=utf-7"},
        {"X-Forwarded-For": "999.999.999.999"},
    ]
)
SPELLINGS = st.sampled_from(["Bearer {}", "bearer {}", "BEARER {}", "Bearer   {}", "Bearer {}\t"])


def with_huge_integers(value: Any, huge: int) -> Any:
    """``value`` with every integer in it replaced by ``huge``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return huge
    if isinstance(value, dict):
        return {k: with_huge_integers(v, huge) for k, v in value.items()}
    if isinstance(value, list):
        return [with_huge_integers(v, huge) for v in value]
    return value


def test_live_app_survives_huge_integers_and_unusual_headers(live_app: Any) -> None:
    """The same operations with every integer in a body or query made huge, and with headers
    spelt or sized as clients should not send them: never a server error."""
    store = live_app.extensions["tuneq.store"]
    _, secret = store.api_keys.create("fuzz")
    store.fleet.heartbeat("fuzz@host", at=time.time() + 3600)  # a live worker: /readyz is 200
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", live_app)
    calls = []
    for operation in (result.ok() for result in schema.get_all_operations()):

        @seed(20261129)
        @hypothesis_settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(
            case=operation.as_strategy(GenerationMode.POSITIVE),
            huge=HUGE,
            headers=HEADERS,
            spelling=SPELLINGS,
        )
        def check(case: Any, huge: int, headers: dict[str, str], spelling: str) -> None:
            calls.append(case.operation.label)
            if isinstance(case.body, dict | list):
                case.body = with_huge_integers(case.body, huge)
            if case.query:
                case.query = {k: str(with_huge_integers(v, huge)) for k, v in case.query.items()}
            response = case.call(headers={"Authorization": spelling.format(secret), **headers})
            assert response.status_code < 500, (case.operation.label, response.text[:500])
            if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith(
                "application/json"
            ):
                assert set(response.json()["error"]) == {"code", "message", "fields"}

        check()
    print(f"huge integers and unusual headers: {len(calls)} cases")
    assert len(calls) >= 150, len(calls)
