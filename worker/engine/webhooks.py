"""Deliver a finished job's result to its callback URL, signed.

The body is the job's outcome (status, best value and configuration, test metrics). The
``X-Tuneq-Signature`` header is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with
the server's webhook secret, so a receiver can check both origin and freshness. Redirects are
not followed (the allowlist names the host that gets the data), and any 2xx counts as delivered.

The host is looked up once, its address refused when it is loopback, private, link-local or
otherwise reserved (unless the deployment allows it), and the connection made to that very
address (TLS still checks the certificate against the name): an allowlisted name that
resolves, or rebinds, to an address inside the deployment reaches nothing. Whatever goes wrong
is a failed attempt, tried again after an exponential backoff by the periodic sweep, until the
last attempt allowed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from service.core.jsonable import plain
from service.core.records import JobRecord, TrialRecord, WebhookStatus
from service.core.store.protocols import EngineStore

TIMEOUT_S = 10.0
SIGNATURE_HEADER = "X-Tuneq-Signature"


class DeliveryResult(StrEnum):
    """What one call of ``deliver_job_webhook`` did."""

    BUSY = "busy"  # another worker is delivering it now
    NO_WEBHOOK = "none"  # the job has no callback URL
    NOT_DUE = "not_due"  # not pending: the job is still running, or it was settled already
    DELIVERED = "delivered"
    RETRY_LATER = "pending"  # this attempt failed; the sweep tries again after the backoff
    GAVE_UP = "failed"  # this was the last attempt allowed


_AFTER_ATTEMPT = {
    WebhookStatus.DELIVERED: DeliveryResult.DELIVERED,
    WebhookStatus.PENDING: DeliveryResult.RETRY_LATER,
    WebhookStatus.FAILED: DeliveryResult.GAVE_UP,
}


@dataclass(frozen=True)
class DeliveryPolicy:
    """Which addresses a callback may reach besides public ones (both off in production)."""

    allow_loopback: bool = False
    allow_private: bool = False

    def refuses(self, address: str) -> str | None:
        """What kind of address this is, when deliveries must not reach it."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback:
            return None if self.allow_loopback else "loopback"
        for kind in ("private", "link_local", "multicast", "reserved", "unspecified"):
            if getattr(ip, f"is_{kind}"):
                return None if self.allow_private else kind.replace("_", "-")
        return None


class RefusedAddress(Exception):
    """The callback's host resolves to an address deliveries must not reach."""


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to an address already looked up and checked (Host names the host)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """The same over TLS, the certificate checked against the host's name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def payload(job: JobRecord, best: TrialRecord | None) -> dict[str, Any]:
    objective = job.spec.training.objective
    return {
        "event": "job.finished",
        "job": {
            "id": job.id,
            "name": job.name,
            "status": job.status.value,
            "error": job.error,
            "stop_reason": job.stop_reason,
            "objective": {"metric": objective.metric, "direction": objective.direction.value},
            "best": None
            if best is None
            else {
                "trial": best.number,
                "value": best.value,
                "params": plain(best.params),
                "metrics": {**best.metrics, **job.test_metrics},
            },
            "links": {"self": f"/v1/jobs/{job.id}"},
        },
    }


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay_s(attempts: int) -> float:
    """2, 4, 8 ... seconds after each failure, at most an hour."""
    return float(min(3600, 2**attempts))


def deliver(
    url: str, body: dict[str, Any], secret: str, delivery_id: str, policy: DeliveryPolicy
) -> str | None:
    """POST once; None when the receiver answered 2xx, else what went wrong (never raises:
    every failure is an attempt that counts)."""
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tuneq-webhook/1",
        SIGNATURE_HEADER: sign(data, secret, int(time.time())),
        "X-Tuneq-Delivery": delivery_id,
    }
    try:
        status = _post(url, data, headers, policy)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= status < 300 else f"HTTP {status}"


def _post(url: str, data: bytes, headers: dict[str, str], policy: DeliveryPolicy) -> int:
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise ValueError("the URL holds control characters or spaces")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)[0][4][0]
    refused = policy.refuses(str(address))
    if refused:
        raise RefusedAddress(f"{parts.hostname} resolves to {address}, a {refused} address")
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    conn = kind(parts.hostname, port, str(address), TIMEOUT_S)
    try:
        conn.request("POST", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     body=data, headers=headers)  # fmt: skip
        return conn.getresponse().status
    finally:
        conn.close()


def deliver_job_webhook(
    store: EngineStore,
    job_id: str,
    secret: str,
    max_attempts: int,
    policy: DeliveryPolicy = DeliveryPolicy(),
) -> DeliveryResult:
    """Try the job's webhook once, if it is due and nobody else is at it.

    Raises:
        JobNotFound: the job is gone.
    """
    if not store.webhooks.lock(job_id, ttl_s=int(TIMEOUT_S * 3)):
        return DeliveryResult.BUSY
    job = store.jobs.get(job_id)
    webhook = job.webhook
    if webhook is None or webhook.status != WebhookStatus.PENDING:
        store.webhooks.release_lock(job_id)
        return DeliveryResult.NO_WEBHOOK if webhook is None else DeliveryResult.NOT_DUE
    best = store.trials.get(job_id, job.best_trial) if job.best_trial is not None else None
    attempt = webhook.attempts + 1
    # unique per attempt: after an extension the next finish's deliveries count from 1 again
    finish = f"-e{job.extensions}" if job.extensions else ""
    delivery = f"{job_id}{finish}-{attempt}"
    error = deliver(webhook.url, payload(job, best), secret, delivery, policy)
    status = store.webhooks.record(job_id, error, max_attempts, retry_delay_s(attempt))
    return _AFTER_ATTEMPT[status]
