"""Reports and plots of real jobs: each plot a valid PNG of a sensible size, the HTML report with
its trials table, Markdown by negotiation; while a job runs, the same built from the trials so
far and marked partial; 404 (never 500) for what does not exist or apply."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.core.settings import Settings
from service.core.store import JobStore
from tests.helpers import api_client, stored_spec, synthetic_spec, wait_job

pytestmark = pytest.mark.integration

SEARCH_PLOTS = ("convergence", "learning_curves", "objective", "parallel_coordinates")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def finished_job(client: FlaskClient, store: JobStore, spec: dict[str, Any]) -> str:
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    assert wait_job(store, job_id, timeout_s=240).status.value == "succeeded"
    return job_id


def test_plots_and_report_of_a_search(
    settings: Settings, store: JobStore, worker: Any, spec: dict[str, Any]
) -> None:
    client = api_client(settings)
    job_id = finished_job(client, store, spec)
    for name in SEARCH_PLOTS:
        response = client.get(f"/v1/jobs/{job_id}/plots/{name}")
        assert response.status_code == 200, (name, response.get_json())
        assert response.mimetype == "image/png"
        width, height = png_size(response.data)
        assert 300 <= width <= 3000 and 200 <= height <= 2500, (name, width, height)
        assert 5_000 < len(response.data) < 2_000_000, (name, len(response.data))
    assert client.get(f"/v1/jobs/{job_id}/plots/lr_range").status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/plots/pie_chart").status_code == 404

    page = client.get(f"/v1/jobs/{job_id}/report")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    trials_table = text.split('<table class="trials">', 1)[1].split("</table>", 1)[0]
    assert trials_table.count("<tr>") == 1 + 5  # the header and one row per trial
    assert "Best configuration" in text and "Diagnosis" in text
    assert "<h2>The shipped model</h2>" in text and "refit inner validation" in text
    assert text.count("data:image/png;base64,") == len(SEARCH_PLOTS)

    markdown = client.get(f"/v1/jobs/{job_id}/report", headers={"Accept": "text/markdown"})
    assert markdown.mimetype == "text/markdown"
    assert "## Trials (best first)" in markdown.get_data(as_text=True)
    assert "## The shipped model" in markdown.get_data(as_text=True)
    assert client.get(f"/v1/jobs/{job_id}/report?format=pdf").status_code == 422


def test_range_test_plot(
    settings: Settings, store: JobStore, worker: Any, spec: dict[str, Any]
) -> None:
    client = api_client(settings)
    spec["search"] = {"strategy": "lr_range_test"}
    spec["search_space"] = {}
    spec["fixed"] = {"optimizer": "sgd", "batch_size": 16}
    job_id = finished_job(client, store, spec)
    response = client.get(f"/v1/jobs/{job_id}/plots/lr_range")
    assert response.status_code == 200
    assert png_size(response.data)[0] >= 300


def test_unknown_jobs_and_plots_that_do_not_apply_yet(settings: Settings, store: JobStore) -> None:
    client = api_client(settings)
    unknown = "0" * 32
    assert client.get(f"/v1/jobs/{unknown}/report").status_code == 404
    assert client.get(f"/v1/jobs/{unknown}/plots/convergence").status_code == 404
    queued = store.jobs.create("acme", stored_spec())
    response = client.get(f"/v1/jobs/{queued}/plots/convergence")
    assert response.status_code == 404  # no trial has finished yet: nothing to draw
    assert "No trial finished" in response.get_json()["error"]["message"]
    report = client.get(f"/v1/jobs/{queued}/report?format=markdown")
    assert report.status_code == 200 and report.headers["X-Tuneq-Partial"] == "true"
    assert "built from the 0 trials finished so far" in report.get_data(as_text=True)


def test_a_running_jobs_report_and_plots_show_the_trials_so_far(
    fast_settings: Settings, store: JobStore, workers: Any
) -> None:
    """A person watching a search gets the report and plots of what has finished, marked
    partial and never cached; once the job ends, the full report."""
    workers.start("w1")
    client = api_client(fast_settings)
    job_id = client.post("/v1/jobs", json=synthetic_spec(trials=8, sleep_s=1.0)).get_json()["id"]
    deadline = time.monotonic() + 90
    while store.jobs.get(job_id).trials_finished < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    plot = client.get(f"/v1/jobs/{job_id}/plots/convergence")
    assert plot.status_code == 200 and png_size(plot.data)[0] >= 300
    assert plot.headers["X-Tuneq-Partial"] == "true" and plot.headers["Cache-Control"] == "no-store"
    report = client.get(f"/v1/jobs/{job_id}/report?format=markdown").get_data(as_text=True)
    assert "**Partial**: the job is running" in report
    assert wait_job(store, job_id, timeout_s=120).status.value == "succeeded"
    final = client.get(f"/v1/jobs/{job_id}/report?format=markdown")
    assert "X-Tuneq-Partial" not in final.headers
    assert "Partial" not in final.get_data(as_text=True)
    assert "private" in client.get(f"/v1/jobs/{job_id}/plots/convergence").headers["Cache-Control"]

    # importance: computed by a control worker (202 meanwhile), then served from the cache
    deadline = time.monotonic() + 60
    response = client.get(f"/v1/jobs/{job_id}/importance")
    while response.status_code == 202 and time.monotonic() < deadline:
        time.sleep(float(response.headers["Retry-After"]))
        response = client.get(f"/v1/jobs/{job_id}/importance")
    assert response.status_code == 200, response.get_json()
    found = response.get_json()
    assert found["trials"] == 8 and set(found["importance"]) == {"learning_rate", "units"}
    assert abs(sum(found["importance"].values()) - 1.0) < 1e-3
    assert client.get(f"/v1/jobs/{job_id}/importance").get_json() == found  # cached
    report = client.get(f"/v1/jobs/{job_id}/report?format=markdown").get_data(as_text=True)
    assert "## Hyperparameter importance" in report and "| learning\\_rate |" in report
