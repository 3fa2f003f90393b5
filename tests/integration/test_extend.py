"""Extending a finished job (``POST /v1/jobs/{id}/extend``, ``tuneq extend``) on real Redis and
Celery: the search goes on from every trial, the refit and test score run again, a cancelled
job runs as many more trials as asked, and every refusal leaves the job as it was."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from typing import Any

import pytest
import redis

from service.client import Client
from service.core import keys
from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.spec import Strategy
from service.core.spec.types import DatasetRef
from service.core.store import JobStore
from tests.helpers import LiveApi, Workers, api_client, stored_spec, synthetic_spec, wait_job
from worker.engine.scheduler import plan_advance

pytestmark = pytest.mark.integration


def statuses(job: dict[str, Any]) -> list[str]:
    return [change["status"] for change in job["status_history"]]


def test_an_extended_job_continues_its_search_and_refits_again(
    settings: Settings, store: JobStore, worker: subprocess.Popen[bytes], spec: dict[str, Any]
) -> None:
    """Through the CLI as a person (or a CI job) runs it: ``tuneq extend ID --trials 2 --wait``."""
    spec["search"].update(max_trials=3, initial_points=2)
    api = LiveApi(settings).start()
    try:
        client = Client(api.url, api_key=api.key)
        job = client.wait(client.submit(spec).id, timeout_s=300)
        assert job.status == "succeeded", job.raw
        first_model = client._call("GET", f"/v1/jobs/{job.id}/model")[1]
        result = subprocess.run(
            [sys.executable, "-m", "service.cli", "extend", job.id, "--trials", "2", "--wait",
             "--url", api.url, "--api-key", api.key, "--fail-under", "test_accuracy=0.0",
             "--timeout", "240"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Extended job {job.id}" in result.stderr and "to 5 trials" in result.stderr
        assert "ok   test_accuracy >= 0" in result.stdout
        extended = client.get(job.id)
        trials = client.trials(job.id)
        model = client._call("GET", f"/v1/jobs/{job.id}/model")[1]
    finally:
        api.stop()
    assert extended.status == "succeeded"
    assert statuses(extended.raw) == ["queued", "running", "succeeded", "running", "succeeded"]
    assert extended.raw["progress"]["trials_total"] == 5
    assert extended.raw["progress"]["extensions"] == 1
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state == "completed" for t in trials)
    assert extended.best is not None
    assert extended.best.value == max(t.value for t in trials if t.value is not None)
    assert "test_accuracy" in extended.best.metrics  # the refit ran again
    assert model and first_model and model[:2] == b"PK"  # a new .keras file is kept
    # The fourth trial is the surrogate's next point after the first three, as an unbroken
    # search would have made it: the optimizer went on, it did not start over.
    record = store.jobs.get(job.id)
    stored = store.trials.list(job.id)
    plan = plan_advance(record, stored[:3], now=store.server_time())
    assert [dict(p) for p in plan.new_points] == [stored[3].params]


def test_a_cancelled_job_runs_as_many_more_trials_as_asked(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    client = api_client(fast_settings)
    spec = synthetic_spec(trials=30, sleep_s=0.3, epochs=2)
    spec["search"].update(strategy="bayesian", parallelism=2, initial_points=3)
    job_id = client.post("/v1/jobs", json=spec).get_json()["id"]
    workers.start("w1", concurrency=2)
    deadline = time.monotonic() + 90
    while store.jobs.get(job_id).trials_finished < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = client.post(f"/v1/jobs/{job_id}/cancel", json={"refit": False}).get_json()
    assert cancelled["status"] == "cancelled"
    assert redis.Redis.from_url(fast_settings.redis_url).ttl(keys.job(job_id)) > 0
    created = store.jobs.get(job_id).trials_created

    response = client.post(f"/v1/jobs/{job_id}/extend", json={"trials": 3})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "running" and body["progress"]["trials_total"] == created + 3
    assert body["summary"] is None and body["stop_reason"] is None
    server = redis.Redis.from_url(fast_settings.redis_url)
    assert server.ttl(keys.job(job_id)) == -1  # it no longer expires
    assert server.ttl(keys.trial(job_id, 0)) == -1
    job = wait_job(store, job_id, timeout_s=120)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert len(trials) == created + 3
    assert all(t.state == TrialState.COMPLETED for t in trials[created:])
    assert job.test_metrics and job.stop_reason is None
    assert server.ttl(keys.job(job_id)) > 0  # its retention started again at the new finish


def test_what_cannot_be_extended_is_refused_and_left_as_it_was(
    settings: Settings, store: JobStore
) -> None:
    limited = dataclasses.replace(
        settings, max_active_jobs_per_tenant=2, max_trials_limit=10, max_duration_limit_s=600
    )
    client = api_client(limited)
    server = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    assert client.post("/v1/jobs/" + "0" * 32 + "/extend", json={"trials": 1}).status_code == 404

    def job(status: JobStatus, spec: Any = None, tenant: str = "acme") -> str:
        job_id = store.jobs.create(tenant, spec or stored_spec(max_trials=3))
        if status != JobStatus.QUEUED:
            store.jobs.set_status(job_id, status, (JobStatus.QUEUED,))
        return job_id

    def state(job_id: str) -> tuple[Any, ...]:
        return (server.hgetall(keys.job(job_id)), server.lrange(keys.status_log(job_id), 0, -1),
                server.ttl(keys.job(job_id)), server.exists(keys.job_model(job_id)))  # fmt: skip

    def refused(
        job_id: str, body: Any, status: int, code: str, field: str | None = None, **kw: Any
    ) -> Any:
        before = state(job_id)
        response = (kw.pop("via", None) or client).post(f"/v1/jobs/{job_id}/extend", json=body)
        assert response.status_code == status, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == code, error
        if field is not None:
            assert field in error["fields"], error
        assert state(job_id) == before  # nothing changed
        return response

    done = job(JobStatus.QUEUED)
    store.trials.add(done, [{"learning_rate": 0.01}, {"learning_rate": 0.02}])
    store.jobs.set_status(done, JobStatus.SUCCEEDED, (JobStatus.QUEUED,))
    server.set(keys.job_model(done), b"PK-the-first-finish's-model")
    refused(done, {}, 422, "validation_error", "trials")
    refused(done, {"trials": 0}, 422, "validation_error", "trials")
    refused(done, {"trials": "2"}, 422, "validation_error", "trials")
    refused(done, {"trials": True}, 422, "validation_error", "trials")
    refused(done, {"trials": 2, "seeds": 3}, 422, "validation_error", "seeds")
    refused(done, {"trials": 2, "max_duration_s": 0}, 422, "validation_error", "max_duration_s")
    refused(done, {"trials": 2, "max_duration_s": 601}, 422, "validation_error", "max_duration_s")
    refused(done, {"trials": 11}, 422, "validation_error", "trials")  # past 10 a job
    refused(done, [2], 422, "validation_error")
    text = client.post(f"/v1/jobs/{done}/extend", data="trials=2")
    assert text.status_code == 415
    refused(job(JobStatus.QUEUED), {"trials": 2}, 409, "conflict")
    refused(job(JobStatus.FAILED), {"trials": 2}, 409, "conflict")
    grid = stored_spec()
    grid_search = dataclasses.replace(grid.search, strategy=Strategy.GRID)
    grid = dataclasses.replace(grid, search=grid_search)
    refused(job(JobStatus.SUCCEEDED, grid), {"trials": 2}, 409, "conflict")
    gone = dataclasses.replace(stored_spec(), dataset=DatasetRef(id="ab" * 32))
    refused(job(JobStatus.SUCCEEDED, gone), {"trials": 2}, 409, "conflict")
    other = job(JobStatus.SUCCEEDED, tenant="globex")
    assert client.post(f"/v1/jobs/{other}/extend", json={"trials": 2}).status_code == 404
    # A finalization still holding its lease would end the reopened job with the old results.
    server.hset(keys.job(done), "finalize_deadline", f"{store.server_time() + 30:.6f}")
    busy = refused(done, {"trials": 2}, 409, "conflict")
    assert 0 < int(busy.headers["Retry-After"]) <= 30
    server.hdel(keys.job(done), "finalize_deadline")
    # The tenant's compute for the day: each trial may train 8 epochs.
    compute = dataclasses.replace(limited, tenant_trial_epochs_per_day=20)
    metered = api_client(compute)
    refused(done, {"trials": 3}, 422, "validation_error", "trials", via=metered)  # 24 > 20
    store.usage.add("acme", 20)  # then spent for today
    spent = refused(done, {"trials": 1}, 429, "compute_budget", via=metered)
    assert int(spent.headers["Retry-After"]) > 0

    # A trial that completed after a cancel (not counted as best then) is the best again, not
    # one stopped early with a higher partial value (as at a trial's finish); a delivered
    # webhook is due again at the next finish; the job stops expiring; the first finish's model
    # is gone.
    server.hset(keys.trial(done, 0), mapping={"state": "pruned", "value": "0.9"})
    server.hset(keys.trial(done, 1), mapping={"state": "completed", "value": "0.75"})
    server.hset(
        keys.job(done),
        mapping={
            "best_trial": 0,
            "best_value": "0.5",
            "webhook_status": "delivered",
            "webhook_attempts": 1,
        },
    )
    server.expire(keys.job(done), 3600)
    headers = {"Idempotency-Key": "extend-once"}
    body = {"trials": 2, "max_duration_s": 60}
    response = client.post(f"/v1/jobs/{done}/extend", json=body, headers=headers)
    assert response.status_code == 202, response.get_json()
    extended = response.get_json()
    assert extended["status"] == "running" and extended["progress"]["trials_total"] == 4
    assert extended["deadline_at"] is not None and extended["best"]["trial"] == 1
    assert server.hget(keys.job(done), "webhook_status") == "waiting"
    assert server.ttl(keys.job(done)) == -1 and server.ttl(keys.trial(done, 1)) == -1
    assert not server.exists(keys.job_model(done))
    # The same request again (its answer lost, say): answered as it is, not extended twice.
    again = client.post(f"/v1/jobs/{done}/extend", json=body, headers=headers)
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["progress"]["trials_total"] == 4
    refused(done, {"trials": 2}, 409, "conflict")  # running now: a new request adds nothing

    # The tenant has two unfinished jobs (the queued one and the extended one): at its limit.
    refused(job(JobStatus.CANCELLED), {"trials": 1}, 429, "too_many_jobs")
