"""A job with two objectives through the API on real Redis and Celery: every trial measures
what its model costs, the job reports the Pareto front (checked against a brute-force one) with
its hypervolume, ParEGO takes over from the initial points, and the report and CLI show the
front."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.records import JobStatus, TrialState
from service.core.settings import Settings
from service.core.store import JobStore
from service.progress import summary
from tests.helpers import Workers, api_client, synthetic_spec, wait_job
from worker.engine.optimizer import RandomSearch
from worker.engine.space import center_point

pytestmark = pytest.mark.integration


def dominated(a: dict[str, float], by: dict[str, float]) -> bool:
    """Whether ``by`` is at least as good as ``a`` in accuracy (max) and size (min), and
    better in one."""
    at_least = by["val_accuracy"] >= a["val_accuracy"] and by["param_count"] <= a["param_count"]
    return at_least and (by["val_accuracy"], by["param_count"]) != (
        a["val_accuracy"],
        a["param_count"],
    )


def test_a_job_with_two_objectives_reports_its_pareto_front(
    fast_settings: Settings, store: JobStore, workers: Workers
) -> None:
    workers.start("w1")
    spec: dict[str, Any] = synthetic_spec(trials=14, sleep_s=0.1, epochs=3)
    spec["search_space"]["n_layers"] = {"type": "int", "low": 1, "high": 3}
    spec["training"]["objectives"] = [{"metric": "val_accuracy"}, {"metric": "param_count"}]
    spec["search"].update(strategy="bayesian", initial_points=4)
    client = api_client(fast_settings)
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    job = wait_job(store, job_id, timeout_s=180)
    assert job.status == JobStatus.SUCCEEDED, job.error
    trials = store.trials.list(job_id)
    assert len(trials) == 14 and all(t.state == TrialState.COMPLETED for t in trials)
    assert all(t.metrics["param_count"] > 0 and t.metrics["inference_ms"] > 0 for t in trials)

    view = client.get(f"/v1/jobs/{job_id}").get_json()
    pareto = view["summary"]["pareto"]
    assert view["objectives"] == pareto["objectives"]
    assert view["objective"] == pareto["objectives"][0]
    assert pareto["objectives"] == [
        {"metric": "val_accuracy", "direction": "max"},
        {"metric": "param_count", "direction": "min"},
    ]
    expected = {
        t.number for t in trials if not any(dominated(t.metrics, o.metrics) for o in trials)
    }
    assert {entry["trial"] for entry in pareto["front"]} == expected
    for entry in pareto["front"]:
        metrics = trials[entry["trial"]].metrics
        assert entry["values"] == {m: metrics[m] for m in ("val_accuracy", "param_count")}
        assert entry["metrics"]["inference_ms"] == metrics["inference_ms"]
        assert (
            entry["metrics"]["val_loss"] == metrics["val_loss"] and "loss" not in entry["metrics"]
        )
        assert entry["params"] == dict(trials[entry["trial"]].params)
    accuracies = [e["values"]["val_accuracy"] for e in pareto["front"]]
    assert accuracies == sorted(accuracies, reverse=True)  # best first by the first objective
    assert 0.0 < pareto["hypervolume_normalised"] <= 1.0 and pareto["hypervolume"] > 0
    assert pareto["reference"]["param_count"] > max(t.metrics["param_count"] for t in trials)
    # the best-of-one fields stay for the first objective, whose best is on the front
    best = max(trials, key=lambda t: t.metrics["val_accuracy"])
    assert view["best"]["trial"] == best.number and best.number in expected
    # the initial design: the middle of the space, then random draws; then ParEGO's model
    drawn = RandomSearch(job.spec.search_space, job.spec.search.seed).suggest([], [], 14)
    drawn[0] = center_point(job.spec.search_space)
    assert [dict(t.params) for t in trials[:4]] == drawn[:4]
    assert [dict(t.params) for t in trials[4:]] != drawn[4:]

    plot = client.get(f"/v1/jobs/{job_id}/plots/pareto")
    assert plot.status_code == 200 and plot.data.startswith(b"\x89PNG")
    report = client.get(f"/v1/jobs/{job_id}/report?format=markdown").get_data(as_text=True)
    assert "## Several objectives" in report and "![pareto](pareto.png)" in report
    assert "- **Other objectives**: minimize param\\_count" in report
    assert f"{len(expected)} trials not dominated" in report
    text = summary(view)
    assert "Pareto front (maximize val_accuracy, minimize param_count)" in text
    assert f"trial {pareto['front'][0]['trial']}: val_accuracy" in text
