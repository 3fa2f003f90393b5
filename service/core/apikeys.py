"""API keys: 256 random bits each, stored only as their SHA-256, each bound to one tenant.

A key is shown once, when it is created. Redis holds ``sha256(key) -> tenant`` and an index of
key ids (the first characters a person can quote when revoking), never the key: a copy of the
database does not let anyone call the API. Looking a key up by its digest and then comparing
the digests with ``hmac.compare_digest`` keeps the check constant-time in the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import redis

from service.core import keys

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


class KeyStore:
    """Create, resolve, list and revoke API keys in Redis (a ``decode_responses`` client)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``tenant``: its record and the key, which is not stored anywhere."""
        check_tenant(tenant)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)  # 32 bytes: 256 bits
        record = ApiKey(secrets.token_hex(6), tenant, name[:100], time.time())
        hashed = digest(secret)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            keys.api_key(hashed),
            mapping={
                "id": record.id,
                "tenant": tenant,
                "name": record.name,
                "created_at": f"{record.created_at:.3f}",
                "digest": hashed,
            },
        )
        pipe.hset(keys.api_key_index(), record.id, hashed)
        pipe.execute()
        return record, secret

    def tenant_for(self, secret: str) -> str | None:
        """The tenant a presented key belongs to, or None when the key is unknown or revoked."""
        hashed = presented_digest(secret)
        if hashed is None:
            return None
        stored, tenant = self.redis.hmget(keys.api_key(hashed), "digest", "tenant")
        return tenant if matches(hashed, stored, tenant) else None

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        found = []
        for hashed in self.redis.hvals(keys.api_key_index()):
            raw = self.redis.hgetall(keys.api_key(hashed))
            if raw and (tenant is None or raw["tenant"] == tenant):
                found.append(
                    ApiKey(raw["id"], raw["tenant"], raw.get("name", ""), float(raw["created_at"]))
                )
        return sorted(found, key=lambda k: (k.tenant, k.created_at))

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by its id; it stops working on the next request. False if unknown."""
        hashed = self.redis.hget(keys.api_key_index(), key_id)
        if hashed is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.api_key(hashed))
        pipe.hdel(keys.api_key_index(), key_id)
        pipe.execute()
        return True
