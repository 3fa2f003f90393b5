"""Attacks 12, 13 and 15: the unfinished-jobs limit under parallel submissions, reports drawn
again on every request, and a tenant queueing compute without bound."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from service.core.settings import Settings
from service.core.store import JobStore
from service.reports import plots
from tests.helpers import Workers, api_client, synthetic_spec, wait_job
from tests.security.conftest import Api
from tests.security.wire import request

pytestmark = pytest.mark.integration


def test_parallel_submissions_never_pass_the_unfinished_jobs_limit(
    start_api: Callable[..., Api], store: JobStore
) -> None:
    api = start_api(max_active_jobs_per_tenant=20, rate_limit_per_minute=0)
    body = json.dumps(synthetic_spec(3, 0.0)).encode()
    answers: list[int] = []
    gate = threading.Barrier(40)

    def submit() -> None:
        gate.wait()
        status, _, _ = request(
            api.url,
            "POST",
            "/v1/jobs",
            key=api.key_a,
            headers={"Content-Type": "application/json"},
            body=body,
            timeout=30,
        )
        answers.append(status)

    threads = [threading.Thread(target=submit) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202] * 20 + [429] * 20
    assert len(store.jobs.active_specs("tenant-a")) == 20


def test_reports_and_plots_are_drawn_once_per_job_version(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[str] = []
    real = dict(plots.DRAW)

    def counting(name: str) -> Callable[..., bytes]:
        def draw(*args: Any) -> bytes:
            drawn.append(name)
            return real[name](*args)

        return draw

    for name in real:
        monkeypatch.setitem(plots.DRAW, name, counting(name))
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(1, 0.0)).get_json()["id"]
    client.post(f"/v1/jobs/{job_id}/cancel")
    other = api_client(settings)  # another process, as far as caches in memory go
    other.environ_base["HTTP_AUTHORIZATION"] = client.environ_base["HTTP_AUTHORIZATION"]
    for each in (client, other, client):
        assert each.get(f"/v1/jobs/{job_id}/report?format=html").status_code == 200
        assert each.get(f"/v1/jobs/{job_id}/report?format=markdown").status_code == 200
    assert sorted(drawn) == sorted(set(drawn))  # each plot drawn once, for all processes
    for each in (client, other):
        assert each.get(f"/v1/jobs/{job_id}/plots/convergence").status_code in (200, 404)
    assert sorted(drawn) == sorted(set(drawn))


def test_a_job_larger_than_the_daily_compute_budget_is_422(settings: Settings) -> None:
    client = api_client(dataclasses.replace(settings, tenant_trial_epochs_per_day=1000))
    spec = synthetic_spec(trials=50, sleep_s=0.0, epochs=30)  # up to 1,500 trial-epochs
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422, response.get_json()
    messages = response.get_json()["error"]["fields"]["search.max_trials"]
    assert "1,500" in messages[0] and "1,000" in messages[0]


def test_a_spent_budget_stops_new_trials_and_new_jobs_until_it_renews(
    fast_settings: Settings, workers: Workers, store: JobStore
) -> None:
    limited = dataclasses.replace(fast_settings, tenant_trial_epochs_per_day=30)
    workers.start("w", settings=limited)
    client = api_client(limited)
    first = client.post("/v1/jobs", json=synthetic_spec(trials=5, sleep_s=0.0, epochs=5))
    assert first.status_code == 202, first.get_json()
    assert wait_job(store, first.get_json()["id"]).status.value == "succeeded"  # 25 used
    second = client.post("/v1/jobs", json=synthetic_spec(trials=5, sleep_s=0.0, epochs=5))
    assert second.status_code == 202  # 5 left: it may start
    job = wait_job(store, second.get_json()["id"])
    assert job.trials_created == 1 and "compute budget" in (job.stop_reason or "")
    refused = client.post("/v1/jobs", json=synthetic_spec(trials=1, sleep_s=0.0, epochs=5))
    assert refused.status_code == 429, refused.get_json()
    assert refused.get_json()["error"]["code"] == "compute_budget"
    assert int(refused.headers["Retry-After"]) > 0


def test_every_job_gets_a_time_limit(settings: Settings) -> None:
    client = api_client(dataclasses.replace(settings, default_max_duration_s=3600))
    job = client.get(
        f"/v1/jobs/{client.post('/v1/jobs', json=synthetic_spec(2, 0.0)).get_json()['id']}"
    ).get_json()
    assert job["spec"]["search"]["max_duration_s"] == 3600
    assert job["deadline_at"] is not None
    long = synthetic_spec(2, 0.0)
    long["search"]["max_duration_s"] = 10**7
    refused = client.post("/v1/jobs", json=long)
    assert refused.status_code == 422
    assert "search.max_duration_s" in refused.get_json()["error"]["fields"]
