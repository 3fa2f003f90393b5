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
from service.core.apikeys import matches, presented_digest
from service.core.store import JobRead, JobStore

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
PUBLIC_ENDPOINTS = frozenset(
    {"healthz", "readyz", "metrics", "openapi.openapi_document", "openapi.docs", "openapi.assets"}
)


KEY_CHECKED_BY_READ = frozenset({"jobs.get_job"})
"""Routes whose one store read checks the key as well (``store.jobs.read``). Clients poll a
job's status more than anything else, and folding the key's lookup into the job's read takes
that request from two round trips to Redis to one. These routes must call
``tenant_from_read``: until they do, ``current_tenant()`` fails, so a route that forgot
answers 500 and shows nothing."""


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
    if request.endpoint in KEY_CHECKED_BY_READ:
        g.key_digest = presented_digest(secret.strip())
        if g.key_digest is None:
            raise _unauthorized(_UNKNOWN_KEY)
        return
    store: JobStore = current_app.extensions["tuneq.store"]
    tenant = store.api_keys.tenant_for(secret.strip())
    if tenant is None:
        raise _unauthorized(_UNKNOWN_KEY)
    g.tenant = tenant


_UNKNOWN_KEY = "The API key is unknown or was revoked."


def key_to_check() -> str | None:
    """For a ``KEY_CHECKED_BY_READ`` route: the digest its read must look up (None when
    authentication is off)."""
    return g.get("key_digest")


def tenant_from_read(read: JobRead) -> str:
    """For a ``KEY_CHECKED_BY_READ`` route: the caller's tenant from what its read found for
    the presented key, or 401. A request already authenticated (authentication off, or a route
    that answers with this one's view) keeps its tenant."""
    if "tenant" in g:
        return current_tenant()
    tenant = read.key_tenant
    if tenant is None or not matches(g.key_digest, read.key_digest, tenant):
        raise _unauthorized(_UNKNOWN_KEY)
    g.tenant = tenant
    return tenant


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
