"""Request budgets counted in Redis, so that every API process and replica shares them.

A budget is a fixed window: the first request opens it for ``window_s``, each request adds its
cost, and a request that would pass the most is refused (and not counted) until the window
ends. The same counting runs inside the scripts that authenticate a key (``apikeys``) and read
a polled job (``jobs``), so a budget costs no extra round trip there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from service.core import keys
from service.core.store import scripts
from service.core.store.connection import Connection

WINDOW_S = 60


@dataclass(frozen=True)
class Budget:
    """What one request costs against a caller's budget, and the most per window (0: none)."""

    cost: int
    most: int
    window_s: int = WINDOW_S

    def args(self) -> list[int]:
        return [self.cost, self.most, self.window_s * 1000]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0

    @classmethod
    def from_reply(cls, reply: Sequence[int]) -> Verdict:
        allowed, ms = int(reply[0]), int(reply[1])
        return cls(bool(allowed), 0 if allowed else max(1, math.ceil(ms / 1000)))


ALLOWED = Verdict(True)


class RedisLimits:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def take(self, caller: str, budget: Budget) -> Verdict:
        """Count one request of ``caller``, unless it is over its budget."""
        if budget.most <= 0:
            return ALLOWED
        reply = self._conn.script(scripts.TAKE)(keys=[keys.rate(caller)], args=budget.args())
        return Verdict.from_reply(reply)

    def failed_authentication(self, address: str, most: int) -> Verdict:
        """Count a failed authentication from ``address``; refused past ``most`` a window. One
        counter per address, however many keys it guesses."""
        if most <= 0:
            return ALLOWED
        reply = self._conn.script(scripts.TAKE)(
            keys=[keys.auth_failures(address)], args=Budget(1, most).args()
        )
        return Verdict.from_reply(reply)
