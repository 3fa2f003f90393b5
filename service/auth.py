"""Who is calling: every request but the public ones carries ``Authorization: Bearer <key>``.

The tenant the key belongs to is put on ``flask.g.tenant``; every resource lookup filters by it,
so another tenant's job or dataset answers 404, exactly as one that does not exist. Public:
the health probes, the metrics scrape and the API's own description (they hold no tenant data;
the description must be readable before one has a key).

Turning authentication off (``TUNEQ_AUTH_DISABLED``) is for a developer's laptop: every request
is then the tenant ``default``, and the app logs a warning when it starts.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request

from service.api.errors import ApiError
from service.core.apikeys import KeyStore

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
PUBLIC_ENDPOINTS = frozenset(
    {"healthz", "readyz", "metrics", "openapi.openapi_document", "openapi.docs", "openapi.assets"}
)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def authenticate() -> None:
    """Resolve the caller's tenant, or answer 401."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    if current_app.config["TUNEQ_SETTINGS"].auth_disabled:
        g.tenant = DEFAULT_TENANT
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    tenant = KeyStore(current_app.extensions["tuneq.store"].redis).tenant_for(secret.strip())
    if tenant is None:
        raise _unauthorized("The API key is unknown or was revoked.")
    g.tenant = tenant


def current_tenant() -> str:
    return g.tenant


def install(app: Flask) -> None:
    if app.config["TUNEQ_SETTINGS"].auth_disabled:
        log.warning(
            "authentication is OFF (TUNEQ_AUTH_DISABLED): every caller is tenant %r; "
            "never run a shared deployment like this",
            DEFAULT_TENANT,
        )
    app.before_request(authenticate)
