"""Deliver a finished job's result to its callback URL, signed.

The body is the job's outcome (status, best value and configuration, test metrics). The
``X-Tuneq-Signature`` header is ``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with
the server's webhook secret, so a receiver can check both origin and freshness. Redirects are
not followed (the allowlist names the host that gets the data), and any 2xx counts as delivered.
A failed attempt is tried again after an exponential backoff, by the periodic sweep.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from enum import StrEnum
from typing import Any

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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


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


def deliver(url: str, body: dict[str, Any], secret: str, delivery_id: str) -> str | None:
    """POST once; None when the receiver answered 2xx, else what went wrong."""
    data = json.dumps(body, separators=(",", ":")).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "tuneq-webhook/1",
            SIGNATURE_HEADER: sign(data, secret, int(time.time())),
            "X-Tuneq-Delivery": delivery_id,
        },
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= status < 300 else f"HTTP {status}"


def deliver_job_webhook(
    store: EngineStore, job_id: str, secret: str, max_attempts: int
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
    error = deliver(webhook.url, payload(job, best), secret, f"{job_id}-{attempt}")
    status = store.webhooks.record(job_id, error, max_attempts, retry_delay_s(attempt))
    return _AFTER_ATTEMPT[status]
