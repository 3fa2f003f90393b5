"""The submit use case as a plain function, and how its failures reach a client: a broker that
is down is "retry shortly" (503), a deployment whose processes disagree on broker options is
an operator's problem (500 ``misconfigured``), and either way no job is left behind."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.app import create_app
from service.core import keys
from service.core.settings import Settings
from service.core.store import JobStore
from service.devstack import free_port
from service.dispatch import Dispatcher, QueueUnavailable
from service.submit import IdempotencyConflict, TooManyJobs, submit_job

pytestmark = pytest.mark.integration


class Recording(Dispatcher):
    """A dispatcher that records what it would send, or fails as the broker would."""

    def __init__(self, settings: Settings, fail: Exception | None = None) -> None:
        super().__init__(settings)
        self.sent: list[str] = []
        self.fail = fail

    def advance(self, job_id: str) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(job_id)


def test_submit_creates_dispatches_and_replays(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    dispatcher = Recording(settings)
    first = submit_job(store, dispatcher, settings, "acme", spec, idempotency_key="k1")
    assert (first.status, first.replayed) == ("queued", False)
    assert dispatcher.sent == [first.job_id]
    assert store.jobs.get(first.job_id).spec.name == "iris-small"
    again = submit_job(store, dispatcher, settings, "acme", spec, idempotency_key="k1")
    assert (again.job_id, again.replayed) == (first.job_id, True)
    assert dispatcher.sent == [first.job_id]  # the replay sent nothing
    with pytest.raises(IdempotencyConflict) as conflict:
        submit_job(store, dispatcher, settings, "acme", {**spec, "name": "x"}, idempotency_key="k1")
    assert not conflict.value.retry


def test_the_tenants_limit_of_unfinished_jobs(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    limited = dataclasses.replace(settings, max_active_jobs_per_tenant=1)
    dispatcher = Recording(limited)
    submit_job(store, dispatcher, limited, "acme", spec)
    with pytest.raises(TooManyJobs):
        submit_job(store, dispatcher, limited, "acme", spec)
    submit_job(store, dispatcher, limited, "globex", spec)  # another tenant is not counted


def test_a_broker_failure_leaves_no_job_and_frees_the_key(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    down = Recording(settings, fail=QueueUnavailable("connection refused"))
    with pytest.raises(QueueUnavailable):
        submit_job(store, down, settings, "acme", spec, idempotency_key="k2")
    assert store.jobs.active_ids() == []
    assert store.jobs.page("acme", limit=10)[0] == []
    retried = submit_job(store, Recording(settings), settings, "acme", spec, idempotency_key="k2")
    assert not retried.replayed  # the key was released: the retry is a new submission


def test_a_broker_that_is_down_answers_503_retry_shortly(
    settings: Settings, store: JobStore, spec: dict[str, Any]
) -> None:
    unreachable = dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(
        dataclasses.replace(settings, auth_disabled=True), dispatcher=Dispatcher(unreachable)
    )
    response = app.test_client().post("/v1/jobs", json=spec)
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "unavailable"
    assert "retry shortly" in response.get_json()["error"]["message"]
    assert response.headers["Retry-After"] == "5"
    assert store.jobs.active_ids() == []


def test_mismatched_broker_options_are_an_operators_problem_not_a_retry(
    settings: Settings, store: JobStore, redis_client: Any, spec: dict[str, Any]
) -> None:
    redis_client.set(keys.broker_options(), "f" * 64)  # the workers run with other options
    app = create_app(dataclasses.replace(settings, auth_disabled=True))
    response = app.test_client().post("/v1/jobs", json=spec)
    assert response.status_code == 500, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "misconfigured" and "retry" not in error["message"]
    assert "Retry-After" not in response.headers
    assert store.jobs.active_ids() == []
