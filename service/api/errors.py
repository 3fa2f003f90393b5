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
from redis import RedisError
from werkzeug.exceptions import HTTPException

from service.core.spec import flatten_errors
from service.core.store import JobNotFound

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

    @app.errorhandler(RedisError)
    def _store_down(error: RedisError) -> ResponseReturnValue:
        log.error("job store unavailable: %s", error)
        return _respond(
            ApiError(
                503,
                "unavailable",
                "The job store is unavailable; retry shortly.",
                headers={"Retry-After": "5"},
            )
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # built in the error shape already (the rate limiter)
            return error.response
        status = error.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        return _respond(ApiError(status, code, error.description or error.name))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return _respond(ApiError(500, "internal_error", "Internal server error."))
