"""Who is calling: every request but the public ones carries ``Authorization: Bearer <key>``.

The tenant the key belongs to is put on ``flask.g.tenant``; every resource lookup filters by it,
so another tenant's job or dataset answers 404, exactly as one that does not exist. Public:
the health probes, the metrics scrape and the API's own description (they hold no tenant data;
the description must be readable before one has a key) and the dashboard's static files (the
page asks for a key and sends it with each call it makes). The request is counted against the
key's budget in the same round trip that finds the key (``ratelimit``).

Turning authentication off (``TUNEQ_AUTH_DISABLED``) is for a developer's laptop: every request
is then the tenant ``default``, and the app logs a warning when it starts.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request

from service.api import ratelimit
from service.api.errors import ApiError
from service.core.apikeys import matches, presented_digest
from service.core.settings import Settings
from service.core.store import Budget, JobRead, JobStore

log = logging.getLogger(__name__)

DEFAULT_TENANT = "default"
PUBLIC_ENDPOINTS = frozenset(
    {
        "healthz",
        "readyz",
        "metrics",
        "scaling",
        "openapi.openapi_document",
        "docs.docs",
        "docs.assets",
        "ui.root",
        "ui.index",
        "ui.index_slash",
        "ui.asset",
    }
)


KEY_CHECKED_BY_READ = frozenset({"jobs.get_job"})
"""Routes whose one store read checks the key (and counts its budget) as well
(``store.jobs.read``). Clients poll a job's status more than anything else, and folding the
key's lookup into the job's read takes that request from two round trips to Redis to one.
These routes must call ``tenant_from_read``: until they do, ``current_tenant()`` fails, so a
route that forgot answers 500 and shows nothing."""

_UNKNOWN_KEY = "The API key is unknown or was revoked."


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _store() -> JobStore:
    return current_app.extensions["tuneq.store"]


def _settings() -> Settings:
    return current_app.config["TUNEQ_SETTINGS"]


def authenticate() -> None:
    """Resolve the caller's tenant and count the request against its budget, or answer 401
    (429 once an address has failed too often, or a key is over its budget)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    settings, store = _settings(), _store()
    budget = ratelimit.budget(settings)
    if settings.auth_disabled:
        g.tenant, g.caller = DEFAULT_TENANT, f"tenant:{DEFAULT_TENANT}"
        if budget.most > 0:
            ratelimit.enforce(store.limits.take(g.caller, budget), budget)
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    digest = presented_digest(secret.strip())
    if digest is None:
        _refuse_unknown_key()
    g.caller = f"key:{digest}"
    g.key_digest = digest
    g.budget = budget
    if request.endpoint in KEY_CHECKED_BY_READ:
        return
    tenant, verdict = store.api_keys.authenticate(digest, budget)
    if tenant is None:
        _refuse_unknown_key()
    ratelimit.enforce(verdict, budget)
    g.tenant = tenant


def _refuse_unknown_key() -> None:
    """401, counted against the caller's address (429 once it has guessed too often)."""
    address = request.remote_addr or "unknown"
    most = _settings().auth_failures_per_minute
    ratelimit.refuse_guessing(_store().limits.failed_authentication(address, most))
    raise _unauthorized(_UNKNOWN_KEY)


def key_to_check() -> tuple[str | None, Budget | None]:
    """For a ``KEY_CHECKED_BY_READ`` route: the digest its read must look up and the budget to
    count there (None when authentication is off)."""
    if "tenant" in g:
        return None, None
    return g.get("key_digest"), g.get("budget")


def tenant_from_read(read: JobRead) -> str:
    """For a ``KEY_CHECKED_BY_READ`` route: the caller's tenant from what its read found for
    the presented key, or 401 (429 over its budget). A request already authenticated
    (authentication off, or a route that answers with this one's view) keeps its tenant."""
    if "tenant" in g:
        return current_tenant()
    tenant = read.key_tenant
    if tenant is None or not matches(g.key_digest, read.key_digest, tenant):
        _refuse_unknown_key()
    ratelimit.enforce(read.verdict, g.budget)
    g.tenant = tenant
    return tenant


def current_tenant() -> str:
    return g.tenant


def current_caller() -> str:
    """Who is calling, for per-key counts: the digest of the presented key (whether or not a
    ``KEY_CHECKED_BY_READ`` route has checked it yet), or the tenant with authentication off."""
    return g.caller


def install(app: Flask) -> None:
    if app.config["TUNEQ_SETTINGS"].auth_disabled:
        log.warning(
            "authentication is OFF (TUNEQ_AUTH_DISABLED): every caller is tenant %r; "
            "never run a shared deployment like this",
            DEFAULT_TENANT,
        )
    app.before_request(authenticate)
