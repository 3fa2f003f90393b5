"""Request budgets: one per API key, whatever route it calls and however its header is spelt,
and one per address for failed authentication, counted in Redis (``store.limits``) so every
API process and replica shares them.

The key's budget is counted in the same round trip that authenticates it (and, for a polled
job, in the one that reads the job), and only once the key is known: guessing keys leaves no
counter per guess, only the guessing address's failure count, which refuses it (429) past
``auth_failures_per_minute``. Routes that cost the server more count for more (``COSTS``).
Over a budget: 429 in the usual error shape, with ``Retry-After``.
"""

from __future__ import annotations

from flask import request

from service.api.errors import ApiError
from service.core.settings import Settings
from service.core.store import Budget, Verdict

# Requests that cost the server more than a read count as several.
COSTS = {"datasets.upload_dataset": 10, "reports.job_report": 5, "reports.job_plot": 5}


def budget(settings: Settings) -> Budget:
    """What the current request costs against its key's budget."""
    return Budget(COSTS.get(request.endpoint or "", 1), settings.rate_limit_per_minute)


def enforce(verdict: Verdict, budget: Budget) -> None:
    """429 when the request was over its key's budget."""
    _refuse(verdict, f"Too many requests: {budget.most} a minute for this key")


def refuse_guessing(verdict: Verdict) -> None:
    """429 when this address has failed to authenticate too often."""
    _refuse(verdict, "Too many failed authentications from this address")


def _refuse(verdict: Verdict, what: str) -> None:
    if not verdict.allowed:
        retry = verdict.retry_after_s
        raise ApiError(
            429, "rate_limited", f"{what}; retry in {retry} s.", headers={"Retry-After": str(retry)}
        )
