"""Reports and plots of a finished job: HTML or Markdown, and PNG plots by name."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service.api.errors import ApiError
from service.api.jobs import job_for_caller
from service.api.views import trial_configuration
from service.core.records import JobRecord, TrialRecord, trial_numbered
from service.core.store import JobStore
from service.reports import plots, report

blueprint = Blueprint("reports", __name__, url_prefix="/v1/jobs")

FORMATS = {"html": "text/html; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}


class ReportQuery(Schema):
    format = fields.String(validate=validate.OneOf(sorted(FORMATS)))


def _finished(job_id: str) -> tuple[JobRecord, list[TrialRecord]]:
    job = job_for_caller(job_id)
    if not job.status.is_finished:
        raise ApiError(
            409, "conflict", f"The job is {job.status.value}; reports and plots come once it ends."
        )
    store: JobStore = current_app.extensions["tuneq.store"]
    return job, store.trials.list(job.id)


@blueprint.get("/<job_id>/report")
def job_report(job_id: str) -> ResponseReturnValue:
    """``?format=html|markdown``, or by the Accept header (HTML unless Markdown is preferred)."""
    fmt = ReportQuery().load(request.args.to_dict()).get("format")
    if fmt is None:
        preferred = request.accept_mimetypes.best_match(["text/html", "text/markdown"])
        fmt = "markdown" if preferred == "text/markdown" else "html"
    job, trials = _finished(job_id)
    best = trial_numbered(trials, job.best_trial)
    config = trial_configuration(job, best) if best else {}
    drawn = plots.available(job, trials)
    if fmt == "markdown":
        body = report.markdown(job, best, config, trials, list(drawn))
    else:
        body = report.html_report(job, best, config, trials, drawn)
    return body, 200, {"Content-Type": FORMATS[fmt]}


@blueprint.get("/<job_id>/plots/<name>")
def job_plot(job_id: str, name: str) -> ResponseReturnValue:
    if name not in plots.PLOTS:
        raise ApiError(404, "not_found", f"No plot {name[:50]!r}; there are {list(plots.PLOTS)}.")
    job, trials = _finished(job_id)
    try:
        png = plots.DRAW[name](job, trials)
    except plots.NoPlot as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return png, 200, {"Content-Type": "image/png", "Cache-Control": "private, max-age=3600"}
