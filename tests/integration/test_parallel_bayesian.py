"""A parallel Bayesian job on real Redis and Celery workers: its surrogate points come from
refills made ahead (``worker.engine.lookahead``), ``advance`` hands them out, and the job
ends with every trial run once."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import Workers, api_client, synthetic_spec, wait_job

pytestmark = pytest.mark.integration


def test_a_parallel_bayesian_job_takes_points_made_ahead(
    fast_settings: Settings,
    store: JobStore,
    workers: Workers,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    workers.start("control", queues="control", concurrency=2)
    workers.start("trials", beat=False, concurrency=4, queues="trials")
    spec = synthetic_spec(trials=16, sleep_s=0.3)
    spec["search"].update(strategy="bayesian", parallelism=4, initial_points=4)
    response = api_client(fast_settings).post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]

    job = wait_job(store, job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert [t.number for t in trials] == list(range(16))
    assert all(t.state == TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 16
    assert job.refills >= 1 and "refill: " in (tmp_path / "control.log").read_text()
    assert not redis_client.exists(f"tuneq:job:{{{job_id}}}:ahead")
    assert not redis_client.exists(f"tuneq:job:{{{job_id}}}:refill")
