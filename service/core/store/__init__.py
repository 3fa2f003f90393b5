"""The job store: Redis behind one contract, the one source of truth for jobs and trials.

Nothing outside this package touches a Redis client. ``JobStore`` is a small facade over one
module per concern, each reached as an attribute: ``jobs``, ``trials`` (and their leases),
``events``, ``webhooks``, ``stats``, ``fleet``, ``models`` (blobs), ``datasets``, ``api_keys``,
``idempotency``, ``locks``, ``ahead`` (suggestions made ahead of need), ``limits`` (request
budgets), ``renders`` (reports and plots) and ``usage`` (compute per tenant and day).
The engine sees only the Protocols in ``protocols``.

What it promises (every Lua script is in ``scripts`` but the two of ``ahead``, every key name in
``service.core.keys``):

- **Jobs.** A job moves queued -> running -> succeeded | failed | cancelled. Each change is one
  atomic step, logged with the Redis server's time, and writes the job's results (error,
  summary, test metrics) in that same step. A finished job never changes status again; its
  keys and its trials' then expire after the retention.
- **Trials.** A trial is created with its params fixed (``trials.add``), never beyond the job's
  budget nor after the job finished. It moves queued -> running under a lease
  (``trials.claim``), and is finished exactly once (``trials.finish``), updating the job's best
  in the same atomic step. The running trial belongs to whoever holds its current lease token:
  only that holder renews the lease, hands the trial back (``trials.release``, not counted as an
  attempt) or finishes it. A holder whose lease was taken over, or a redelivered task, gets
  ``False`` / ``LeaseState.LOST`` and writes nothing. An expired lease may be taken over, which
  counts an attempt; past the attempt limit the trial is failed instead. Finished trials never
  change.
- **Time** is the Redis server's clock (``server_time``), so leases do not depend on the
  workers' clocks agreeing.
- **Missing ids.** Reading a job that does not exist (or expired) raises ``JobNotFound`` (a
  ``KeyError``); reading a missing trial, dataset or model returns None. Writes to a missing
  job are refused by the scripts (``NOJOB``) or do nothing.
- **Failures.** Every method either completes or raises ``StoreUnavailable`` (redis-py's
  ``RedisError``); callers decide whether to answer 503 or retry.
- **Threads.** A store may be shared by the threads of one process (redis-py's pool is
  thread-safe); each process makes its own.
"""

from __future__ import annotations

import redis

from service.core.store.ahead import RedisAhead
from service.core.store.apikeys import RedisApiKeys
from service.core.store.blobs import ModelBlobs, RenderCache
from service.core.store.connection import Connection, StoreUnavailable, connect, reachable
from service.core.store.errors import (
    ActiveJobsLimit,
    DatasetLimitReached,
    DatasetQuotaReached,
    JobNotFound,
)
from service.core.store.events import RedisEvents
from service.core.store.fleet import HEARTBEAT_S, RedisFleet
from service.core.store.idempotency import (
    RedisIdempotency,
    Reservation,
    ReservationOutcome,
    body_hash,
)
from service.core.store.jobs import JobRead, RedisJobs
from service.core.store.limits import Budget, RedisLimits, Verdict
from service.core.store.locks import RedisLocks
from service.core.store.stats import TRIAL_SECONDS_BUCKETS, Demand, RedisStats, StatsSnapshot
from service.core.store.trials import Claim, ClaimOutcome, LeaseState, RedisTrials, TrialOutcome
from service.core.store.uploads import RedisDatasets
from service.core.store.usage import RedisUsage
from service.core.store.webhooks import RedisWebhooks

DEFAULT_RETENTION_S = 30 * 24 * 3600


class JobStore:
    """Every part of the store on one connection."""

    def __init__(
        self,
        client: redis.Redis,
        retention_s: int = DEFAULT_RETENTION_S,
        *,
        stream_connections: int = 4,
    ) -> None:
        self._conn = Connection(client)
        self.events = RedisEvents(self._conn, stream_connections)
        self.stats = RedisStats(self._conn)
        self.fleet = RedisFleet(self._conn)
        self.webhooks = RedisWebhooks(self._conn)
        self.datasets = RedisDatasets(self._conn)
        self.usage = RedisUsage(self._conn)
        self.trials = RedisTrials(self._conn, self.events, self.stats, self.usage)
        self.jobs = RedisJobs(
            self._conn,
            retention_s,
            events=self.events,
            webhooks=self.webhooks,
            stats=self.stats,
            describe=self.datasets.info,
        )
        self.models = ModelBlobs(self._conn)
        self.renders = RenderCache(self._conn)
        self.api_keys = RedisApiKeys(self._conn)
        self.idempotency = RedisIdempotency(self._conn)
        self.locks = RedisLocks(self._conn)
        self.ahead = RedisAhead(self._conn)
        self.limits = RedisLimits(self._conn)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout_s: float = 5.0,
        retention_s: int = DEFAULT_RETENTION_S,
        stream_connections: int = 4,
    ) -> JobStore:
        return cls(
            connect(url, timeout_s=timeout_s),
            retention_s=retention_s,
            stream_connections=stream_connections,
        )

    def server_time(self) -> float:
        """The Redis server's clock, the one leases are measured against."""
        return self._conn.server_time()


__all__ = [
    "HEARTBEAT_S",
    "TRIAL_SECONDS_BUCKETS",
    "ActiveJobsLimit",
    "Budget",
    "Claim",
    "ClaimOutcome",
    "DatasetLimitReached",
    "DatasetQuotaReached",
    "Demand",
    "JobNotFound",
    "JobRead",
    "JobStore",
    "LeaseState",
    "Reservation",
    "ReservationOutcome",
    "StatsSnapshot",
    "StoreUnavailable",
    "TrialOutcome",
    "Verdict",
    "body_hash",
    "connect",
    "reachable",
]
