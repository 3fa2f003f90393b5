"""Jobs: created queued, moved through their statuses atomically, listed per tenant, expired
after their retention once finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.core import keys
from service.core.records import JobRecord, JobStatus, TrialRecord, WebhookStatus
from service.core.spec.types import JobSpec
from service.core.store import scripts
from service.core.store.apikeys import caller
from service.core.store.codec import (
    DescribeDataset,
    decode_job,
    decode_trial,
    dumps,
    encode_spec,
)
from service.core.store.connection import Connection
from service.core.store.errors import ActiveJobsLimit, JobNotFound
from service.core.store.events import RedisEvents
from service.core.store.finalization import FinalizeLease
from service.core.store.limits import ALLOWED, Budget, Verdict
from service.core.store.reopen import SETTLE_JOB, Reopened, reopen
from service.core.store.stats import RedisStats
from service.core.store.webhooks import RedisWebhooks


@dataclass(frozen=True)
class JobRead:
    """A job as the API shows it, read in one round trip (``RedisJobs.read``): the job (None
    when there is none), its best trial without the curves, and the stored digest and tenant
    of the API key asked about (None when that key has no record, or none was asked about)."""

    job: JobRecord | None
    best: TrialRecord | None
    key_digest: str | None
    key_tenant: str | None
    verdict: Verdict = ALLOWED  # the request counted against the key's budget
    # a digest of what the job's view is made from ('' when there is no job); ``unchanged``
    # when it is the tag the caller sent, and the job and best were left out
    tag: str = ""
    unchanged: bool = False


class RedisJobs(FinalizeLease):
    def __init__(
        self,
        conn: Connection,
        retention_s: int,
        *,
        events: RedisEvents,
        webhooks: RedisWebhooks,
        stats: RedisStats,
        describe: DescribeDataset,
    ) -> None:
        self._conn = conn
        self._redis = conn.redis
        self.retention_s = retention_s
        self._events = events
        self._webhooks = webhooks
        self._stats = stats
        self._describe = describe

    def create(self, tenant: str, spec: JobSpec, max_active: int = 0) -> str:
        """Store a new queued job and return its id, unless the tenant already has
        ``max_active`` unfinished jobs (0: no limit), checked in the same atomic step.

        With ``spec.search.max_duration_s``, no trial starts later than that many seconds after
        creation.

        Raises:
            ActiveJobsLimit: the tenant is at its limit (with how many it has).
        """
        job_id = uuid.uuid4().hex
        fields = {
            **encode_spec(spec),
            "name": spec.name,
            "max_trials": spec.search.max_trials,
            "direction": spec.training.objective.direction.value,
            "task": spec.task,
            "trials_created": 0,
            "trials_finished": 0,
        }
        if spec.callback_url:
            fields.update(callback_url=spec.callback_url, webhook_status=WebhookStatus.WAITING)
        duration = spec.search.max_duration_s
        created, active = self._conn.script(scripts.CREATE_JOB)(
            keys=[
                keys.job(job_id),
                keys.status_log(job_id),
                keys.tenant_jobs(tenant),
                keys.active_jobs(),
                keys.tenant_active(tenant),
            ],
            args=[
                job_id,
                tenant,
                max_active,
                "" if duration is None else repr(float(duration)),
                *[item for pair in fields.items() for item in pair],
            ],
        )
        if not created:
            raise ActiveJobsLimit(int(active))
        return job_id

    def delete(self, job_id: str) -> None:
        """Remove a job, its trials, events and model (a client deleting a finished job, or a
        new job that could not be dispatched)."""
        raw = self._redis.hmget(keys.job(job_id), ["tenant", "trials_created"])
        tenant, created = raw[0], int(raw[1] or 0)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(
            keys.job(job_id),
            keys.status_log(job_id),
            keys.job_lock(job_id),
            keys.job_ahead(job_id),
            keys.job_refill(job_id),
            keys.job_model(job_id),
            keys.job_events(job_id),
            keys.job_renders(job_id),
        )
        pipe.delete(*[keys.trial(job_id, n) for n in range(created)] or [keys.trial(job_id, 0)])
        if tenant:
            pipe.zrem(keys.tenant_jobs(tenant), job_id)
            pipe.srem(keys.tenant_active(tenant), job_id)
        pipe.srem(keys.active_jobs(), job_id)
        pipe.execute()

    def get(self, job_id: str) -> JobRecord:
        """The job.

        Raises:
            JobNotFound: no job has this id (or it expired).
        """
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(keys.job(job_id))
        pipe.lrange(keys.status_log(job_id), 0, -1)
        raw, log = pipe.execute()
        if not raw:
            raise JobNotFound(job_id)
        return decode_job(raw, log, self._describe)

    def read(
        self,
        job_id: str,
        key_digest: str | None = None,
        budget: Budget | None = None,
        known: str | None = None,
    ) -> JobRead:
        """The job with its best trial (without its curves) in one round trip; with
        ``key_digest``, also what the store holds for that API key, so a polled job is
        authenticated and read at once, and with ``budget`` the request counted against the
        key. The job is None when it does not exist. With ``known``, the tag of an earlier
        read: when nothing changed since, the answer says ``unchanged`` and carries neither job
        nor best (a poll of a quiet job sends and decodes almost nothing)."""
        job_keys = [keys.job(job_id), keys.status_log(job_id)]
        args: list[object] = [keys.trial_prefix(job_id), known or ""]
        if key_digest is not None:
            job_keys.append(keys.api_key(key_digest))
            if budget is not None and budget.most > 0:
                job_keys.append(keys.rate(caller(key_digest)))
                args += budget.args()
        script = self._conn.script(scripts.READ_JOB)
        raw, log, best, key, verdict, tag = script(keys=job_keys, args=args)
        unchanged = bool(known) and tag == known
        pairs = dict(zip(raw[::2], raw[1::2], strict=True))
        trial = dict(zip(best[::2], best[1::2], strict=True))
        return JobRead(
            job=decode_job(pairs, log, self._describe) if pairs else None,
            best=decode_trial(job_id, trial) if trial else None,
            key_digest=key[0] if key else None,
            key_tenant=key[1] if key else None,
            verdict=Verdict.from_reply(verdict),
            tag=tag,
            unchanged=unchanged,
        )

    def page(
        self,
        tenant: str,
        *,
        limit: int,
        after: tuple[float, str] | None = None,
        keep: Callable[[JobRecord], bool] = lambda job: True,
        max_scanned: int = 5000,
    ) -> tuple[list[JobRecord], tuple[float, str] | None]:
        """The tenant's jobs, newest first, that ``keep`` accepts, after the position ``after``
        (creation time and id of the last one a client saw). Returns the page and the position
        to continue from (None at the end). Ties in creation time are ordered by id, so a page
        boundary never skips or repeats a job; ids of jobs that expired are dropped on the way.
        """
        found: list[JobRecord] = []
        high: float | str = after[0] if after else "+inf"
        scanned, last, size = 0, after, 100
        while len(found) < limit and scanned < max_scanned:
            batch = self._redis.zrevrangebyscore(
                keys.tenant_jobs(tenant), high, "-inf", start=0, num=size, withscores=True
            )
            fresh = [
                (job_id, score)
                for job_id, score in batch
                if last is None or score < last[0] or (score == last[0] and job_id < last[1])
            ]
            if not fresh and len(batch) == size:  # a full batch of ties already seen
                size *= 2
                continue
            if not fresh:
                return found, None
            for job_id, score in fresh:
                scanned += 1
                last = (score, job_id)
                try:
                    job = self.get(job_id)
                except JobNotFound:
                    self._redis.zrem(keys.tenant_jobs(tenant), job_id)
                    continue
                if keep(job):
                    found.append(job)
                    if len(found) == limit:
                        break
            high = last[0] if last else high
        return found, last

    def active_ids(self) -> list[str]:
        """Jobs not yet finished (what the sweep visits)."""
        return sorted(self._redis.smembers(keys.active_jobs()))

    def statuses(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Each job's status, in one round trip (jobs that are gone are left out)."""
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hget(keys.job(job_id), "status")
        found = zip(job_ids, pipe.execute(), strict=True)
        return {job_id: JobStatus(status) for job_id, status in found if status}

    def active_specs(self, tenant: str) -> dict[str, JobSpec]:
        """The specs of the tenant's queued and running jobs, by job id."""
        active = sorted(self._redis.smembers(keys.tenant_active(tenant)))
        if not active:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for job_id in active:
            pipe.hgetall(keys.job(job_id))
        return {
            job_id: decode_job(raw, (), self._describe).spec
            for job_id, raw in zip(active, pipe.execute(), strict=True)
            if raw and raw.get("tenant") == tenant
        }

    def set_status(
        self,
        job_id: str,
        status: JobStatus,
        allowed_from: tuple[JobStatus, ...],
        *,
        error: str | None = None,
        summary: Mapping[str, Any] | None = None,
        test_metrics: Mapping[str, float] | None = None,
        model_bytes: int | None = None,
        best: tuple[int, float] | None = None,
    ) -> bool:
        """Move the job to ``status`` if it is in one of ``allowed_from``, writing the given
        results in the same atomic step; True if it moved. ``best``: the trial (number, value)
        the job ships when it is not the search's best (the finalists' second look chose it). A
        finished status also starts the retention clock on the job and its trials, and makes
        its webhook due.
        """
        fields: dict[str, str] = {}
        if error is not None:
            fields["error"] = error[:2000]
        if summary is not None:
            fields["summary"] = dumps(dict(summary))
        if test_metrics is not None:
            fields["test_metrics"] = dumps(dict(test_metrics))
        if model_bytes is not None:
            fields["model_bytes"] = str(model_bytes)
        if best is not None:
            fields["best_trial"] = str(best[0])
            fields["best_value"] = repr(float(best[1]))
        flat = [item for pair in fields.items() for item in pair]
        moved = bool(
            self._conn.script(scripts.SET_STATUS)(
                keys=[*self._status_keys(job_id)],
                args=[status.value, ",".join(s.value for s in allowed_from), *flat],
            )
        )
        if moved:
            self._events.emit(job_id, "job_status", status=status.value)
        if moved and status.is_finished:
            self._settle(job_id, status)
        return moved

    def set_stop_reason(self, job_id: str, reason: str) -> None:
        """Why the job ends before its budget (its time ran out, say)."""
        self._redis.hset(keys.job(job_id), "stop_reason", reason)

    def record_advance(self, job_id: str, seconds: float, *, refill: bool = False) -> None:
        """Account one scheduling step, or one refill of suggestions made ahead (for the
        job's scheduling statistics)."""
        count, total = ("refills", "refill_seconds") if refill else ("advances", "advance_seconds")
        pipe = self._redis.pipeline(transaction=False)
        pipe.hincrby(keys.job(job_id), count, 1)
        pipe.hincrbyfloat(keys.job(job_id), total, seconds)
        pipe.execute()

    def cancel(
        self, job_id: str, reason: str = "cancelled by the client", *, refit: bool = False
    ) -> JobStatus:
        """Cancel an active job (idempotent); returns the job's status afterwards. Queued trials
        are cancelled with it; running ones see it at their next lease renewal. With ``refit``
        and a best trial so far, the job is ``stopping`` until its finalization has refit that
        trial and ended it cancelled, with the model and summary a finished search has."""
        status, moved = self._conn.script(scripts.CANCEL_JOB)(
            keys=[*self._status_keys(job_id)],
            args=[keys.trial_prefix(job_id), reason, "1" if refit else "0"],
        )
        if int(moved):
            self._events.emit(job_id, "job_status", status=status)
        if int(moved) and status == JobStatus.CANCELLED:
            self._settle(job_id, JobStatus.CANCELLED)
        return JobStatus(status)

    def extend(
        self, job_id: str, trials: int, *, most_trials: int, run_s: float | None, max_active: int
    ) -> Reopened:
        """Reopen a succeeded or cancelled job with ``trials`` more (at most ``most_trials`` in
        all), running for ``run_s`` seconds from now (None: no limit), unless its tenant has
        ``max_active`` unfinished jobs (0: no limit); all in one step (``reopen``). The search
        goes on from every trial; the earlier finish's results and model are dropped, since the
        next finish replaces them."""
        status_keys = self._status_keys(job_id)[:4]
        reopened = reopen(self._conn, job_id, status_keys, trials, most_trials, run_s, max_active)
        if reopened.extended:
            self._events.emit(job_id, "job_status", status=JobStatus.RUNNING.value)
        return reopened

    def _settle(self, job_id: str, status: JobStatus) -> None:
        """A finish's last steps: the retention clock, the webhook, the count; then marked done
        (``reopen`` refuses a job until then)."""
        self._expire(job_id)
        self._webhooks.queue(job_id)
        self._stats.count_job_finished(status)
        self._conn.script(SETTLE_JOB)(keys=[keys.job(job_id)], args=[])

    def _status_keys(self, job_id: str) -> tuple[str, ...]:
        """The keys a status change touches (its tenant's active set among them)."""
        tenant = self._redis.hget(keys.job(job_id), "tenant") or ""
        active = keys.tenant_active(tenant)
        return keys.job(job_id), keys.status_log(job_id), keys.active_jobs(), active, keys.leases()

    def _expire(self, job_id: str) -> None:
        created = int(self._redis.hget(keys.job(job_id), "trials_created") or 0)
        pipe = self._redis.pipeline(transaction=False)
        for key in (
            keys.job(job_id),
            keys.status_log(job_id),
            keys.job_model(job_id),
            keys.job_events(job_id),
            keys.job_renders(job_id),
        ):
            pipe.expire(key, self.retention_s)
        pipe.delete(keys.job_ahead(job_id))  # suggestions nobody will take
        for n in range(created):
            pipe.expire(keys.trial(job_id, n), self.retention_s)
        pipe.execute()
