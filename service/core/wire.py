"""Names that travel over the API, in one place for the server and the standard-library client
(which cannot import the server's records or its plotting)."""

from __future__ import annotations

# The job statuses, as ``service.core.records.JobStatus`` spells them (a test keeps them equal).
JOB_STATUSES = ("queued", "running", "stopping", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")

# The plots a report may hold (what ``GET /v1/jobs/{id}/plots/<name>`` draws).
PLOTS = (
    "convergence", "learning_curves", "objective", "parallel_coordinates", "lr_range", "pareto",
)  # fmt: skip
