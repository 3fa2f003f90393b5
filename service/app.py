"""The Flask application factory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue

from service import metrics
from service.api import auth, datasets, docs, events, extend, jobs, models, openapi, reports, ui
from service.api.errors import ApiError, register_error_handlers
from service.api.job_views import JobViews
from service.core.logs import pop_context, push_context
from service.core.settings import Settings
from service.core.store import HEARTBEAT_S, JobStore
from service.dispatch import Dispatcher

# HTML that tuneq serves (reports) inlines its styles and images and runs no script.
PAGE_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, plus the read-only mappings that records hold; keys in insertion order."""

    sort_keys = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Mapping):
            return dict(o)
        return DefaultJSONProvider.default(o)


def create_app(
    settings: Settings | None = None,
    *,
    store: JobStore | None = None,
    dispatcher: Dispatcher | None = None,
) -> Flask:
    """Build the API. Nothing connects until the first request needs it."""
    settings = settings or Settings.from_env()
    app = Flask("tuneq", static_folder=None)
    app.json = JSONProvider(app)
    app.config["TUNEQ_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["tuneq.store"] = store or JobStore.from_url(
        settings.redis_url,
        timeout_s=settings.redis_timeout_s,
        retention_s=settings.job_retention_s,
        stream_connections=settings.streams_per_process,
    )
    app.extensions["tuneq.dispatcher"] = dispatcher or Dispatcher(settings)
    app.extensions["tuneq.job_views"] = JobViews()
    register_error_handlers(app)
    auth.install(app)
    metrics.install(app, app.extensions["tuneq.store"])
    app.register_blueprint(jobs.blueprint)
    app.register_blueprint(extend.blueprint)
    events.install(app, settings)
    app.register_blueprint(reports.blueprint)
    datasets.install(app, settings)
    app.register_blueprint(models.blueprint)
    app.register_blueprint(models.families_blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(docs.blueprint)
    app.register_blueprint(ui.blueprint)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        """Ready when Redis answers and a worker has sent a heartbeat lately (else 503)."""
        alive = app.extensions["tuneq.store"].fleet.workers_alive(3 * HEARTBEAT_S)
        if not alive:
            raise ApiError(
                503,
                "unavailable",
                "No worker has reported in the last "
                f"{3 * HEARTBEAT_S} s; jobs would wait in the queue.",
                headers={"Retry-After": "5"},
            )
        return jsonify({"status": "ready", "workers": alive})

    @app.after_request
    def _page_headers(response: Response) -> Response:
        """No content sniffing anywhere, and pages that can load nothing from elsewhere."""
        response.headers["X-Content-Type-Options"] = "nosniff"
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        return response

    @app.before_request
    def _log_ids() -> None:
        ids = {k: v for k, v in (request.view_args or {}).items() if k.endswith("_id")}
        if ids:  # the request's log lines carry the job or dataset id
            g.log_token = push_context(**ids)

    @app.teardown_request
    def _end_log_ids(error: BaseException | None) -> None:
        token = g.pop("log_token", None)
        if token is not None:
            pop_context(token)

    logging.getLogger("tuneq").setLevel(logging.INFO)
    return app
