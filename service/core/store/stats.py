"""Counters for ``/metrics``: jobs and trials by how they finished, trial durations, and what
is waiting in the queues. Read at scrape time, so every API replica reports the same numbers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from service.core import keys
from service.core.contract import QUEUE_CONTROL, QUEUE_TRIALS
from service.core.records import JobStatus, TrialState
from service.core.store.connection import Connection
from service.core.store.fleet import HEARTBEAT_S

# Upper bounds (seconds) of the trial duration histogram.
TRIAL_SECONDS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)
QUEUES = (QUEUE_CONTROL, QUEUE_TRIALS)
LEASES_KEPT_S = 3600  # a lease this long expired belongs to a worker that died: forget it


@dataclass(frozen=True)
class Demand:
    """What the trial workers are wanted for now: tasks waiting in the trials queue (trials and
    finalizations, a re-sent one counted twice) and those running under a live lease. An
    autoscaler that holds ``wanted`` workers never has to stop one that is running a trial."""

    waiting: int
    running: int

    @property
    def wanted(self) -> int:
        return self.waiting + self.running


@dataclass(frozen=True)
class StatsSnapshot:
    """What the store knows about the whole deployment at one moment."""

    active_jobs: Mapping[JobStatus, int]  # unfinished jobs by status
    jobs_finished: Mapping[str, float]  # by final status, since the store began
    trials_finished: Mapping[str, float]  # by final state
    trial_seconds: Mapping[str, float]  # histogram bucket counts (str(bound) or "+Inf"), "sum"
    queue_depths: Mapping[str, int]
    workers_alive: int


class RedisStats:
    def __init__(self, conn: Connection) -> None:
        self._redis = conn.redis

    def count_job_finished(self, status: JobStatus) -> None:
        self._redis.hincrby(keys.stats_jobs_finished(), status.value, 1)

    def count_trial(self, state: TrialState, seconds: float | None) -> None:
        """Count a finished trial by state, and its duration's bucket when it ran."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(keys.stats_trials(), state.value, 1)
        if seconds is not None:
            seconds = max(0.0, seconds)
            bucket = next((b for b in TRIAL_SECONDS_BUCKETS if seconds <= b), "+Inf")
            pipe.hincrby(keys.stats_trial_seconds(), str(bucket), 1)
            pipe.hincrbyfloat(keys.stats_trial_seconds(), "sum", seconds)
        pipe.execute()

    def demand(self) -> Demand:
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        pipe.llen(QUEUE_TRIALS)
        pipe.zcount(keys.leases(), now, "+inf")
        pipe.zremrangebyscore(keys.leases(), "-inf", now - LEASES_KEPT_S)  # workers long gone
        waiting, running, _ = pipe.execute()
        return Demand(waiting=int(waiting), running=int(running))

    def snapshot(self) -> StatsSnapshot:
        pipe = self._redis.pipeline(transaction=False)
        pipe.smembers(keys.active_jobs())
        pipe.hgetall(keys.stats_jobs_finished())
        pipe.hgetall(keys.stats_trials())
        pipe.hgetall(keys.stats_trial_seconds())
        pipe.zcount(keys.workers(), time.time() - 3 * HEARTBEAT_S, "+inf")
        for queue in QUEUES:
            pipe.llen(queue)
        active, finished, trials, seconds, workers, *depths = pipe.execute()
        statuses = self._redis.pipeline(transaction=False)
        for job_id in active:
            statuses.hget(keys.job(job_id), "status")
        live = [s for s in statuses.execute() if s] if active else []
        return StatsSnapshot(
            active_jobs={s: live.count(s.value) for s in JobStatus if not s.is_finished},
            jobs_finished={k: float(v) for k, v in finished.items()},
            trials_finished={k: float(v) for k, v in trials.items()},
            trial_seconds={k: float(v) for k, v in seconds.items()},
            queue_depths=dict(zip(QUEUES, depths, strict=True)),
            workers_alive=int(workers),
        )
