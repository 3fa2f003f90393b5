"""One error shape for every 4xx and 5xx: ``{"error": {"code", "message", "fields"}}``.

``fields`` maps a dotted field path (``search_space.units.low``) to its messages; it is empty
when the error is not about a field. No handler lets a client's input end in a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from service.core.settings import SettingsError
from service.core.spec import flatten_errors
from service.core.store import JobNotFound, StoreUnavailable
from service.dispatch import QueueUnavailable

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status, machine-readable code and message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields = fields or {}
        self.headers = headers or {}


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _respond(error: ApiError) -> ResponseReturnValue:
    response = jsonify(error_body(error.code, error.message, error.fields))
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": "5"})


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> ResponseReturnValue:
        return _respond(error)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> ResponseReturnValue:
        fields = flatten_errors(error.messages)
        return _respond(ApiError(422, "validation_error", "The request is invalid.", fields))

    @app.errorhandler(JobNotFound)
    def _job_not_found(error: JobNotFound) -> ResponseReturnValue:
        return _respond(ApiError(404, "not_found", "No such job."))

    @app.errorhandler(StoreUnavailable)
    def _store_down(error: StoreUnavailable) -> ResponseReturnValue:
        log.error("job store unavailable: %s", error)
        return _respond(_unavailable("The job store is unavailable; retry shortly."))

    @app.errorhandler(QueueUnavailable)
    def _queue_down(error: QueueUnavailable) -> ResponseReturnValue:
        log.error("task queue unavailable: %s", error)
        return _respond(_unavailable("The task queue is unavailable; retry shortly."))

    @app.errorhandler(SettingsError)
    def _misconfigured(error: SettingsError) -> ResponseReturnValue:
        """A deployment fault, not the client's and not passing: an operator must act."""
        log.error("misconfigured deployment: %s", error)
        return _respond(
            ApiError(
                500,
                "misconfigured",
                "The service is misconfigured; its operators have been told in its log.",
            )
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        return _respond(ApiError(status, code, error.description or error.name))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return _respond(ApiError(500, "internal_error", "Internal server error."))
