"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from service.api import jobs
from service.api.errors import register_error_handlers
from service.core.settings import Settings
from service.core.store import JobStore, connect
from service.dispatch import Dispatcher


def create_app(
    settings: Settings | None = None,
    *,
    store: JobStore | None = None,
    dispatcher: Dispatcher | None = None,
) -> Flask:
    """Build the API. Nothing connects until the first request needs it."""
    settings = settings or Settings.from_env()
    app = Flask("tuneq")
    app.config["TUNEQ_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["tuneq.store"] = store or JobStore(
        connect(settings.redis_url, timeout_s=settings.redis_timeout_s),
        retention_s=settings.job_retention_s,
    )
    app.extensions["tuneq.dispatcher"] = dispatcher or Dispatcher(settings)
    register_error_handlers(app)
    app.register_blueprint(jobs.blueprint)

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> ResponseReturnValue:
        app.extensions["tuneq.store"].redis.ping()
        return jsonify({"status": "ready"})

    logging.getLogger("tuneq").setLevel(logging.INFO)
    return app
