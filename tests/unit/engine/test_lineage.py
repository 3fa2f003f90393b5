"""A warm-started job's summary: each source's best, and the best over all comparable ones."""

from __future__ import annotations

from typing import Any

from service.core.records import JobStatus, TrialState
from service.core.spec import load_spec
from service.core.store import TrialOutcome
from tests.helpers import synthetic_spec
from tests.memory_store import MemoryStore
from worker.engine.runner import finalize_job


def finished_job(store: MemoryStore, values: list[float], **changes: Any) -> str:
    """A job whose trials scored ``values``, finished."""
    body = synthetic_spec(len(values), sleep_s=0.0)
    for part, fields in changes.items():
        body[part] = {**body[part], **fields}
    job_id = store.jobs.create("t1", load_spec(body))
    points = [{"learning_rate": 0.01, "units": 32 + n} for n in range(len(values))]
    for number in store.trials.add(job_id, points):
        claim = store.trials.claim(job_id, number, "w", lease_s=30)
        outcome = TrialOutcome(TrialState.COMPLETED, value=values[number], metrics={})
        assert store.trials.finish(job_id, number, claim.token, outcome)
    return job_id


def warm_summary(store: MemoryStore, job_id: str) -> dict[str, Any]:
    assert finalize_job(store, job_id) == JobStatus.SUCCEEDED
    return dict(store.jobs.get(job_id).summary["warm_start"])


def test_the_sources_better_best_is_reported_as_coming_from_the_source() -> None:
    store = MemoryStore()
    source = finished_job(store, [0.90, 0.9583])
    job_id = finished_job(store, [0.9167, 0.85], search={"warm_start": [source]})
    found = warm_summary(store, job_id)
    assert found["sources"] == [
        {"job_id": source, "available": True, "comparable": True, "best_trial": 1,
         "best_value": 0.9583}
    ]  # fmt: skip
    best = found["best"]
    assert (best["job_id"], best["trial"], best["value"]) == (source, 1, 0.9583)
    assert best["from_source"] and best["model"] == f"/v1/jobs/{source}/model"
    assert store.jobs.get(job_id).best_trial == 0  # the job's own best stays its own


def test_the_jobs_own_best_wins_ties_and_better_values() -> None:
    store = MemoryStore()
    source = finished_job(store, [0.9])
    job_id = finished_job(store, [0.9, 0.8], search={"warm_start": [source]})
    best = warm_summary(store, job_id)["best"]
    assert (best["job_id"], best["from_source"]) == (job_id, False)


def test_a_source_measured_another_way_is_listed_but_not_compared() -> None:
    store = MemoryStore()
    longer = finished_job(store, [0.99], training={"max_epochs": 50})
    gone = "f" * 32
    job_id = finished_job(store, [0.9], search={"warm_start": [longer, gone]})
    found = warm_summary(store, job_id)
    assert found["sources"][0]["comparable"] is False
    assert found["sources"][1] == {"job_id": gone, "available": False}
    assert found["best"]["job_id"] == job_id
