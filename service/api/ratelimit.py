"""Requests per minute per API key, counted in Redis so that every API replica shares the count.

flask-limiter does the counting (a moving window in Redis). A request without a key is counted
by its address. Over the limit: 429 in the usual error shape, with ``Retry-After``. Should Redis
be away, requests are not refused for it (the routes themselves answer 503).
"""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, Response, jsonify, request
from flask_limiter import Limiter, RequestLimit

from service.api.auth import PUBLIC_ENDPOINTS
from service.api.errors import error_body
from service.core import redis_url
from service.core.settings import Settings


def _caller() -> str:
    header = request.headers.get("Authorization", "")
    if header:
        return "key:" + hashlib.sha256(header.encode("utf-8", "surrogatepass")).hexdigest()
    return "addr:" + (request.remote_addr or "unknown")


def install(app: Flask, settings: Settings) -> Limiter | None:
    if settings.rate_limit_per_minute == 0:
        return None
    storage, options = redis_url.limiter_storage(settings.redis_url)
    return Limiter(
        key_func=_caller,
        app=app,
        default_limits=[f"{settings.rate_limit_per_minute} per minute"],
        default_limits_exempt_when=lambda: request.endpoint in PUBLIC_ENDPOINTS,
        storage_uri=storage,
        storage_options={
            **options,
            "socket_timeout": settings.redis_timeout_s,
            "socket_connect_timeout": settings.redis_timeout_s,
        },
        strategy="moving-window",
        key_prefix="tuneq:ratelimit",
        swallow_errors=True,
        on_breach=_refuse,
    )


def _refuse(limit: RequestLimit) -> Response:
    """The 429 in the API's error shape, saying when the window frees a request."""
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    response = jsonify(
        error_body(
            "rate_limited",
            f"Too many requests: {limit.limit} for this key; retry in {retry_after} s.",
        )
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response
