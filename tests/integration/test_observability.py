"""Operations: /readyz follows the workers' heartbeats, /metrics reports what really happened."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.core.settings import Settings
from service.core.store import JobStore, connect
from tests.helpers import api_client, synthetic_spec, wait_job

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_readyz_needs_a_recent_worker_heartbeat(settings: Settings, store: JobStore) -> None:
    client = api_client(settings)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    store.fleet.heartbeat("stale@host", at=time.time() - 3600)
    assert client.get("/readyz").status_code == 503
    store.fleet.heartbeat("fresh@host")
    assert client.get("/readyz").get_json() == {"status": "ready", "workers": 1}


def test_metrics_report_jobs_trials_queues_and_latency(
    settings: Settings, store: JobStore, worker: Any
) -> None:
    client = api_client(settings)
    deadline = time.monotonic() + 60
    while client.get("/readyz").status_code != 200:  # the real worker's heartbeat
        assert time.monotonic() < deadline, "the worker never reported"
        time.sleep(0.2)
    job_id = client.post("/v1/jobs", json=synthetic_spec(trials=3, sleep_s=0.0)).get_json()["id"]
    wait_job(store, job_id)
    client.get(f"/v1/jobs/{job_id}")

    scrape = client.get("/metrics", headers={"Authorization": ""})  # public: no key needed
    assert scrape.status_code == 200
    found = samples(scrape.get_data(as_text=True))
    assert found[("tuneq_trials_finished_total", (("state", "completed"),))] == 3
    assert found[("tuneq_jobs_finished_total", (("status", "succeeded"),))] == 1
    assert found[("tuneq_jobs", (("status", "running"),))] == 0
    assert found[("tuneq_trial_duration_seconds_count", ())] == 3
    assert found[("tuneq_workers_alive", ())] >= 1
    assert ("tuneq_queue_depth", (("queue", "trials"),)) in found
    route = (("method", "GET"), ("route", "/v1/jobs/<job_id>"), ("status", "200"))
    assert found[("tuneq_api_request_seconds_count", route)] >= 1
    assert job_id not in scrape.get_data(as_text=True)  # no ids, no tenants


def test_worker_logs_are_json_lines_with_job_and_trial_ids(
    fast_settings: Settings, workers: Any, tmp_path: Any
) -> None:
    settings = dataclasses.replace(fast_settings, log_format="json")
    workers.start("jsonlogs", settings=settings)
    client = api_client(settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(trials=2, sleep_s=0.0)).get_json()["id"]
    wait_job(JobStore(connect(settings.redis_url)), job_id)
    time.sleep(0.5)  # the last task's log line
    lines = [json.loads(line) for line in (tmp_path / "jsonlogs.log").read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about_job = [line for line in lines if line.get("job_id") == job_id]
    assert {line.get("trial") for line in about_job} >= {0, 1}, about_job[-5:]
