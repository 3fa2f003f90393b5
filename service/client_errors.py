"""The errors of the tuneq client: one class per API error code, so callers catch what they mean.

Kept apart from the client itself so the client module holds the calls alone; ``service.client``
re-exports every class here.
"""

from __future__ import annotations

from typing import Any


class TuneqError(Exception):
    """Anything the client could not do."""


class ConnectionFailed(TuneqError):
    """The server could not be reached (after retrying)."""


class WaitTimeout(TuneqError):
    """The job did not finish in time."""


class ApiError(TuneqError):
    """The API answered with an error: ``status``, ``code``, ``message`` and ``fields``."""

    def __init__(self, status: int, body: Any, headers: Any = None) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        self.status = status
        self.code = error.get("code")
        self.message = error.get("message") or f"HTTP {status}"
        self.fields: dict[str, list[str]] = error.get("fields") or {}
        self.retry_after = _retry_after(headers)
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.fields.items())
        super().__init__(
            f"HTTP {status} {self.code}: {self.message}" + (f" ({detail})" if detail else "")
        )


class BadRequest(ApiError):
    """400: the request was malformed."""


class Unauthorized(ApiError):
    """401: no key, or a wrong or revoked one."""


class NotFound(ApiError):
    """404: no such job or dataset for this key's tenant."""


class Conflict(ApiError):
    """409: the resource's state does not allow it."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class ValidationFailed(ApiError):
    """422: the spec or upload is invalid; ``fields`` says where."""


class RateLimited(ApiError):
    """429: too many requests or jobs; ``retry_after`` says when to come back."""


class Unavailable(ApiError):
    """503: the server's Redis or broker is away."""


ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    503: Unavailable,
}


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
