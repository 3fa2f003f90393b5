"""API keys: 256 random bits each, stored only as their SHA-256, each bound to one tenant.

A key is shown once, when it is created. Redis holds ``sha256(key) -> tenant`` and an index of
key ids (the first characters a person can quote when revoking), never the key: a copy of the
database does not let anyone call the API. Looking a key up by its digest and then comparing
the digests with ``hmac.compare_digest`` keeps the check constant-time in the secret. This module
holds the rules; ``service.core.store.apikeys`` keeps the records.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

KEY_PREFIX = "tq_"
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class InvalidTenant(ValueError):
    """A tenant name outside ``[a-z0-9][a-z0-9_-]{0,62}``."""


@dataclass(frozen=True)
class ApiKey:
    """What is kept about a key: never the key itself."""

    id: str
    tenant: str
    name: str
    created_at: float


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def presented_digest(secret: str) -> str | None:
    """The digest to look a presented key up by, or None when it cannot be one of ours."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 200:
        return None
    return digest(secret)


def matches(presented: str, stored: str | None, tenant: str | None) -> bool:
    """Whether the record found for a presented key's digest is that key's, in constant time."""
    return stored is not None and tenant is not None and hmac.compare_digest(stored, presented)


def check_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.match(tenant):
        raise InvalidTenant(
            f"tenant {tenant!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return tenant
