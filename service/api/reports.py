"""Reports and plots of a job: HTML or Markdown, and PNG plots by name, each drawn once per
version of the job. While the job runs they are built from the trials so far and marked
partial (``X-Tuneq-Partial: true``, never cached by the client), so a person can watch."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, fields, validate

from service.api.errors import ApiError
from service.api.jobs import job_for_caller
from service.api.views import trial_configuration
from service.core.records import JobRecord, TrialRecord, trial_numbered
from service.core.store import JobStore
from service.core.wire import PLOTS
from service.dispatch import QueueUnavailable
from service.reports import plots, report

blueprint = Blueprint("reports", __name__, url_prefix="/v1/jobs")

FORMATS = {"html": "text/html; charset=utf-8", "markdown": "text/markdown; charset=utf-8"}


class ReportQuery(Schema):
    format = fields.String(validate=validate.OneOf(sorted(FORMATS)))


def _headers(job: JobRecord, content_type: str) -> dict[str, str]:
    """A finished job's drawings never change; a running job's do with every trial."""
    if job.status.is_finished:
        return {"Content-Type": content_type, "Cache-Control": "private, max-age=3600"}
    return {"Content-Type": content_type, "Cache-Control": "no-store", "X-Tuneq-Partial": "true"}


class Drawings:
    """A job's reports and plots, each drawn once per version of the job (cached in the store,
    so every API process shares them: drawing takes a fraction of a second of CPU)."""

    def __init__(self, job: JobRecord) -> None:
        self.job = job
        self.store: JobStore = current_app.extensions["tuneq.store"]
        self.version = job.render_version
        self._trials: list[TrialRecord] | None = None

    @property
    def trials(self) -> list[TrialRecord]:
        if self._trials is None:
            self._trials = self.store.trials.list(self.job.id)
        return self._trials

    def cached(self, name: str, draw: Callable[[], bytes]) -> bytes:
        found = self.store.renders.get(self.job.id, name, self.version)
        if found is None:
            found = draw()
            self.store.renders.put(self.job.id, name, self.version, found)
        return found

    def plot(self, name: str) -> bytes:
        """The plot's PNG; raises ``NoPlot`` when it does not apply to the job."""

        def draw() -> bytes:
            try:
                return plots.DRAW[name](self.job, self.trials)
            except plots.NoPlot as exc:
                return _NO_PLOT + str(exc).encode()

        found = self.cached(f"plot:{name}", draw)
        if found.startswith(_NO_PLOT):
            raise plots.NoPlot(found[len(_NO_PLOT) :].decode())
        return found

    def all_plots(self) -> dict[str, bytes]:
        drawn = {}
        for name in PLOTS:
            with contextlib.suppress(plots.NoPlot):
                drawn[name] = self.plot(name)
        return drawn

    def report(self, fmt: str) -> bytes:
        found = self.store.renders.get(self.job.id, "importance", self.version)
        importance = json.loads(found) if found is not None else None

        def draw() -> bytes:
            best = trial_numbered(self.trials, self.job.best_trial)
            config = trial_configuration(self.job, best) if best else {}
            drawn = self.all_plots()
            if fmt == "markdown":
                body = report.markdown(self.job, best, config, self.trials, list(drawn), importance)
            else:
                body = report.html_report(self.job, best, config, self.trials, drawn, importance)
            return body.encode()

        if importance is None:  # asked for now, so a later report has it; this one not kept
            with contextlib.suppress(QueueUnavailable):  # the report does not need the broker
                current_app.extensions["tuneq.dispatcher"].importance(self.job.id)
            return draw()
        return self.cached(f"report:{fmt}", draw)


_NO_PLOT = b"!noplot:"  # a PNG starts with its signature, never with this


@blueprint.get("/<job_id>/report")
def job_report(job_id: str) -> ResponseReturnValue:
    """``?format=html|markdown``, or by the Accept header (HTML unless Markdown is preferred)."""
    fmt = ReportQuery().load(request.args.to_dict()).get("format")
    if fmt is None:
        preferred = request.accept_mimetypes.best_match(["text/html", "text/markdown"])
        fmt = "markdown" if preferred == "text/markdown" else "html"
    job = job_for_caller(job_id)
    body = Drawings(job).report(fmt)
    return body, 200, _headers(job, FORMATS[fmt])


@blueprint.get("/<job_id>/plots/<name>")
def job_plot(job_id: str, name: str) -> ResponseReturnValue:
    if name not in PLOTS:
        raise ApiError(404, "not_found", f"No plot {name[:50]!r}; there are {list(PLOTS)}.")
    job = job_for_caller(job_id)
    try:
        png = Drawings(job).plot(name)
    except plots.NoPlot as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    return png, 200, _headers(job, "image/png")


IMPORTANCE_WAIT_S = 5.0  # how long a request waits for a control worker to compute it


@blueprint.get("/<job_id>/importance")
def job_importance(job_id: str) -> ResponseReturnValue:
    """How much each searched hyperparameter explains the objective, at the job's current
    version: computed by a control worker (the API has no scikit-learn) and cached; 202 while
    it is being computed."""
    job = job_for_caller(job_id)
    store: JobStore = current_app.extensions["tuneq.store"]
    found = store.renders.get(job.id, "importance", job.render_version)
    if found is None:
        current_app.extensions["tuneq.dispatcher"].importance(job.id)
        deadline = time.monotonic() + IMPORTANCE_WAIT_S
        while found is None and time.monotonic() < deadline:
            time.sleep(0.1)
            found = store.renders.get(job.id, "importance", job.render_version)
    if found is None:
        body = {"status": "computing", "job_id": job.id}
        return jsonify(body), 202, {"Retry-After": "1", "Cache-Control": "no-store"}
    return found, 200, _headers(job, "application/json")
