"""One ``TUNEQ_REDIS_URL`` for the job store and the broker, in three forms:

- ``redis://[[user]:password@]host:6379/0`` (or ``unix:///path/redis.sock?db=0``): one server.
- ``rediss://...``: the same over TLS. The certificate is checked unless the URL says
  ``?ssl_cert_reqs=none`` (or ``optional``); ``ssl_ca_certs=/path`` names a private CA.
- ``redis+sentinel://[[user]:password@]host1:26379,host2:26379/<master>/<db>``: Redis Sentinel
  finds the current master of ``<master>``; after a failover every process follows the new one.
  The password is the master's; the sentinels are asked with the same one.

Each consumer wants its own spelling (redis-py a client, Celery a ``sentinel://`` URL list and
transport options); this module translates. It parses only: the
job store's ``connection`` module makes the clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel")


class RedisUrlError(ValueError):
    """A URL tuneq cannot use."""


@dataclass(frozen=True)
class SentinelTarget:
    hosts: tuple[tuple[str, int], ...]
    master: str
    db: int
    username: str | None
    password: str | None

    @property
    def auth(self) -> str:
        """The ``:password@`` part of the URLs Celery and ``limits`` expect."""
        return f":{self.password}@" if self.password else ""

    @property
    def sentinel_options(self) -> dict[str, Any]:
        """Options that let Celery and ``limits`` ask password-protected sentinels."""
        return {"sentinel_kwargs": {"password": self.password}} if self.password else {}


def parse_sentinel(url: str) -> SentinelTarget:
    parts = urlsplit(url)
    auth, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = auth.partition(":") if auth else ("", "", "")
    hosts = []
    for item in hostlist.split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise RedisUrlError(f"sentinel {item!r}: give host:port")
        hosts.append((host.strip("[]"), int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise RedisUrlError("a Sentinel URL ends in /<master name>[/<db>]")
    return SentinelTarget(
        tuple(hosts),
        path[0],
        int(path[1]) if len(path) == 2 else 0,
        unquote(username) or None,
        unquote(password) or None,
    )


def check(url: str) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise RedisUrlError(f"use one of {', '.join(s + '://' for s in SCHEMES)}; got {url!r}")
    if scheme == "redis+sentinel":
        parse_sentinel(url)


def celery_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's ``broker_url`` and the transport options the URL implies."""
    parts = urlsplit(url)
    if parts.scheme == "rediss":
        query = parse_qs(parts.query)
        query.setdefault("ssl_cert_reqs", ["required"])  # Celery insists that it is explicit
        return urlunsplit(parts._replace(query=urlencode(query, doseq=True))), {}
    if parts.scheme != "redis+sentinel":
        return url, {}
    target = parse_sentinel(url)
    broker = ";".join(
        f"sentinel://{target.auth}{host}:{port}/{target.db}" for host, port in target.hosts
    )
    return broker, {"master_name": target.master, **target.sentinel_options}
