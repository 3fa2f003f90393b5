"""The compute each tenant's trials used, per UTC day, in trial-epochs (one epoch of one
trial, every fold counted): what the daily compute budget is checked against.

A trial's epochs are counted when it finishes, whatever its outcome (a failed or cancelled
trial used the compute too). Each day's count expires two days later.
"""

from __future__ import annotations

import time

from service.core import keys
from service.core.store.connection import Connection

DAY_S = 24 * 3600


def day(at: float | None = None) -> str:
    return time.strftime("%Y%m%d", time.gmtime(time.time() if at is None else at))


def seconds_to_next_day(at: float | None = None) -> int:
    now = time.time() if at is None else at
    return int(DAY_S - now % DAY_S) + 1


class RedisUsage:
    def __init__(self, conn: Connection) -> None:
        self._redis = conn.redis

    def add(self, tenant: str, trial_epochs: int) -> None:
        if trial_epochs <= 0:
            return
        key = keys.tenant_usage(tenant, day())
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(key, trial_epochs)
        pipe.expire(key, 2 * DAY_S)
        pipe.execute()

    def today(self, tenant: str) -> int:
        """The trial-epochs the tenant's trials used since midnight UTC."""
        return int(self._redis.get(keys.tenant_usage(tenant, day())) or 0)
