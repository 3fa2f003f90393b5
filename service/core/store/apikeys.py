"""API keys in Redis: ``sha256(key) -> tenant`` and an index of key ids, never the key itself
(see ``service.core.apikeys`` for why)."""

from __future__ import annotations

import secrets
import time

from service.core import keys
from service.core.apikeys import KEY_PREFIX, ApiKey, check_tenant, digest, matches, presented_digest
from service.core.store import scripts
from service.core.store.connection import Connection
from service.core.store.limits import Budget, Verdict


def caller(hashed: str) -> str:
    """Who a key's requests are counted as: the key, by its digest."""
    return f"key:{hashed}"


class RedisApiKeys:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._redis = conn.redis

    def create(self, tenant: str, name: str = "") -> tuple[ApiKey, str]:
        """A new key for ``tenant``: its record and the key, which is not stored anywhere.

        Raises:
            InvalidTenant: the tenant's name is not one tuneq accepts.
        """
        check_tenant(tenant)
        secret = KEY_PREFIX + secrets.token_urlsafe(32)  # 32 bytes: 256 bits
        record = ApiKey(secrets.token_hex(6), tenant, name[:100], time.time())
        hashed = digest(secret)
        pipe = self._redis.pipeline(transaction=True)
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
        stored, tenant = self._redis.hmget(keys.api_key(hashed), "digest", "tenant")
        return tenant if matches(hashed, stored, tenant) else None

    def authenticate(self, hashed: str, budget: Budget) -> tuple[str | None, Verdict]:
        """The tenant of the key with this digest (None when unknown or revoked), and the
        request counted against the key's budget, in one round trip."""
        stored, tenant, allowed, ms = self._conn.script(scripts.AUTHENTICATE)(
            keys=[keys.api_key(hashed), keys.rate(caller(hashed))], args=budget.args()
        )
        if not matches(hashed, stored or None, tenant or None):
            return None, Verdict(True)
        return tenant, Verdict.from_reply([allowed, ms])

    def list(self, tenant: str | None = None) -> list[ApiKey]:
        found = []
        for hashed in self._redis.hvals(keys.api_key_index()):
            raw = self._redis.hgetall(keys.api_key(hashed))
            if raw and (tenant is None or raw["tenant"] == tenant):
                found.append(
                    ApiKey(raw["id"], raw["tenant"], raw.get("name", ""), float(raw["created_at"]))
                )
        return sorted(found, key=lambda k: (k.tenant, k.created_at))

    def revoke(self, key_id: str) -> bool:
        """Revoke a key by its id; it stops working on the next request. False if unknown."""
        hashed = self._redis.hget(keys.api_key_index(), key_id)
        if hashed is None:
            return False
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(keys.api_key(hashed))
        pipe.hdel(keys.api_key_index(), key_id)
        pipe.execute()
        return True
