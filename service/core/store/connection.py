"""Connections to the job store's Redis: the one place that makes a redis-py client.

``TUNEQ_REDIS_URL`` may name one server (``redis://``, ``rediss://``, ``unix://``) or a Sentinel
group (``redis+sentinel://``; ``service.core.redis_url`` parses it). Clients fail fast instead of
hanging when the server is away; their errors reach callers as ``StoreUnavailable``.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.commands.core import Script
from redis.sentinel import Sentinel, SentinelConnectionPool

from service.core.redis_url import parse_sentinel

StoreUnavailable = redis.RedisError
"""Raised by every store operation that could not reach Redis (or that Redis refused, as a
full one refuses writes): callers answer 503 or retry with backoff."""


def client(url: str, **kwargs: Any) -> redis.Redis:
    """A redis-py client for any ``TUNEQ_REDIS_URL`` form (``kwargs`` go to the connection)."""
    if not url.startswith("redis+sentinel://"):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel(url)
    timeouts = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
    sentinel = Sentinel(
        list(target.hosts),
        sentinel_kwargs={"password": target.password, **timeouts},
        username=target.username,
        password=target.password,
        db=target.db,
        **kwargs,
    )
    return sentinel.master_for(target.master)


def connect(url: str, timeout_s: float = 5.0) -> redis.Redis:
    """A client that decodes replies to ``str`` and fails fast when the server is away."""
    return client(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        health_check_interval=30,
    )


def reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a Redis answers at ``url`` (any form) within ``timeout_s``."""
    try:
        probe = client(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        return bool(probe.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def binary_client(decoded: redis.Redis) -> redis.Redis:
    """A client on the same server that leaves values as bytes (``connect``'s decodes them)."""
    pool = decoded.connection_pool
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    if isinstance(pool, SentinelConnectionPool):  # follow the same master through failovers
        return pool.sentinel_manager.master_for(pool.service_name, **kwargs)
    return redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


class Connection:
    """What every store module shares: the decoding client, a bytes client made on first use,
    the registered Lua scripts, and the server's clock."""

    def __init__(self, decoded: redis.Redis) -> None:
        self.redis = decoded
        self._binary: redis.Redis | None = None
        self._scripts: dict[str, Script] = {}

    @property
    def binary(self) -> redis.Redis:
        if self._binary is None:
            self._binary = binary_client(self.redis)
        return self._binary

    def dedicated(self, max_connections: int) -> redis.Redis:
        """A client with a pool of its own, of at most ``max_connections``: for commands that
        block (an event stream's XREAD), so they never take the connections that everyone's
        ordinary requests share."""
        pool = self.redis.connection_pool
        kwargs = {**pool.connection_kwargs, "max_connections": max_connections}
        if isinstance(pool, SentinelConnectionPool):
            return pool.sentinel_manager.master_for(pool.service_name, **kwargs)
        return redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )

    def script(self, source: str) -> Script:
        """The script registered once per connection (redis-py runs it by its SHA)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self.redis.register_script(source)
        return found

    def server_time(self) -> float:
        """The Redis server's clock, the one leases are measured against."""
        seconds, micros = self.redis.time()
        return float(seconds) + micros / 1e6
