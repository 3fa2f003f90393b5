"""A job's finalization lease: one finalizer at a time, renewed while it works, given up when
someone else finished the job.

Finalization (the finalists' second look, then the refit) can take several trainings. It
holds a lease so that a finalizer that died is replaced once the lease lapses (the sweep asks
again), and renews it between trainings so that a live one is never joined by a second
(both would save a model under the same key, and the loser would delete it). ``reopen`` waits
while a lease is live.
"""

from __future__ import annotations

from service.core import keys
from service.core.store import scripts
from service.core.store.connection import Connection

# KEYS: job, the leases set. ARGV: lease seconds. Extends a live lease; 0 when there is none
# (it lapsed and may be another's now, or the job finished or was reopened).
RENEW_FINALIZE = scripts.lua("""
local deadline = tonumber(redis.call('HGET', KEYS[1], 'finalize_deadline') or '0')
if deadline <= now then return 0 end
redis.call('HSET', KEYS[1], 'finalize_deadline', stamp(now + tonumber(ARGV[1])))
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), KEYS[1] .. ':finalize')
return 1
""")

# KEYS: job. A finalization that found its job finished by someone else (cancelled outright
# while it refit) gives up its lease, so that the job can be reopened at once.
RELEASE_FINALIZE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  redis.call('HDEL', KEYS[1], 'finalize_deadline')
end
return 0
"""


class FinalizeLease:
    """The finalization lease methods of ``RedisJobs``."""

    _conn: Connection

    def claim_finalize(self, job_id: str, lease_s: float) -> bool:
        """True for one caller per ``lease_s``: the one that runs the job's finalization."""
        claimed = self._conn.script(scripts.CLAIM_FINALIZE)(
            keys=[keys.job(job_id), keys.leases()], args=[lease_s]
        )
        return bool(claimed)

    def renew_finalize(self, job_id: str, lease_s: float) -> bool:
        """Extend the live finalization lease by ``lease_s`` from now; False when there is
        none any more (the finalizer should stop: its results would not be the job's)."""
        renewed = self._conn.script(RENEW_FINALIZE)(
            keys=[keys.job(job_id), keys.leases()], args=[lease_s]
        )
        return bool(renewed)

    def release_finalize(self, job_id: str) -> None:
        """Give up a finalization lease on a job someone else finished."""
        self._conn.script(RELEASE_FINALIZE)(keys=[keys.job(job_id)], args=[])

    def finalizing(self, job_id: str) -> bool:
        """Whether a finalization of the job holds its lease now: a finalize task runs only
        then (one sent before the job finished, or before it was reopened, finds none)."""
        deadline = self._conn.redis.hget(keys.job(job_id), "finalize_deadline")
        return bool(deadline) and float(deadline) > self._conn.server_time()
