"""Every Redis key name tuneq uses, built in this one module.

Layout (the job id sits in a ``{hash tag}`` so that one job's keys share a Redis Cluster slot
and its Lua scripts stay single-slot):

    tuneq:job:{id}                  hash: the job record (spec, status, counters, best)
    tuneq:job:{id}:status_log       list: "status@unix-time" for each status change
    tuneq:job:{id}:trial:{n}        hash: one trial (params, state, lease, metrics, history)
    tuneq:job:{id}:events           stream: progress events (trial started, epoch, trial finished,
                                    job status), for server-sent events; expires with the job
    tuneq:job:{id}:lock             string: the advance lock (a token, with a short expiry)
    tuneq:job:{id}:renders          hash: its reports and plots, drawn once per job version
    tuneq:job:{id}:ahead            list: Bayesian suggestions made ahead of need (JSON, with
                                    their batch and the state they were made from)
    tuneq:job:{id}:refill           string: held while one refill of them is asked for or runs
    tuneq:tenant:{tenant}:jobs      sorted set: job ids by creation time
    tuneq:jobs:active               set: ids of jobs not yet finished (what the sweep visits)
    tuneq:tenant:{tenant}:active    set: the tenant's jobs not yet finished (its limit)
    tuneq:tenant:{tenant}:usage:{day}  string: trial-epochs the tenant's trials ran that day
    tuneq:sweep:lock                string: held by the one sweep running at a time
    tuneq:leases                    sorted set: each running trial's (and finalization's) key ->
                                    when its lease ends: what the fleet is busy with now
    tuneq:dataset:{sha256}          hash: an uploaded dataset's description (shapes, task, classes)
    tuneq:dataset:{sha256}:data     string: its checked arrays, as an uncompressed .npz
    tuneq:dataset:{sha256}:tenants  set: the tenants that uploaded it (deleted with the last one)
    tuneq:tenant:{tenant}:datasets  hash: dataset id -> the tenant's name for it and upload time
    tuneq:tenant:{tenant}:dataset_bytes  string: the bytes of the datasets the tenant holds
    tuneq:tenant:{t}:idem:{sha256}  string: an Idempotency-Key's body hash and job id (24 h)
    tuneq:webhooks:pending          set: finished jobs whose webhook is still to be delivered
    tuneq:job:{id}:webhook_lock     string: held while one worker delivers the job's webhook
    tuneq:workers                   sorted set: worker hostname -> time of its last heartbeat
    tuneq:stats:jobs_finished       hash: status -> jobs that finished so (a counter)
    tuneq:stats:trials              hash: trial state -> trials that finished so (a counter)
    tuneq:stats:trial_seconds       hash: histogram of trial durations (bucket counts, sum)
    tuneq:apikey:{sha256(key)}      hash: the tenant an API key belongs to (id, name, created_at)
    tuneq:apikeys                   hash: key id -> sha256(key), for listing and revoking
    tuneq:streams:{caller}          sorted set: the caller's open event streams -> when each
                                    lapses (a stream whose process died drops out then)
    tuneq:rate:{caller}             string: the caller's requests (weighted) in this window
    tuneq:authfail:{address}        string: failed authentications from an address, this window
"""

from __future__ import annotations

PREFIX = "tuneq"


def job(job_id: str) -> str:
    return f"{PREFIX}:job:{{{job_id}}}"


def status_log(job_id: str) -> str:
    return f"{job(job_id)}:status_log"


def trial(job_id: str, number: int) -> str:
    return f"{trial_prefix(job_id)}{number}"


def trial_prefix(job_id: str) -> str:
    """The part of a trial key before its number (Lua scripts append the number)."""
    return f"{job(job_id)}:trial:"


def job_model(job_id: str) -> str:
    """The refit best model, ``.keras`` bytes."""
    return f"{job(job_id)}:model"


def job_events(job_id: str) -> str:
    return f"{job(job_id)}:events"


def job_renders(job_id: str) -> str:
    """Reports and plots drawn for the job: ``<name>@<version>`` -> bytes."""
    return f"{job(job_id)}:renders"


def job_lock(job_id: str) -> str:
    return f"{job(job_id)}:lock"


def tenant_jobs(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:jobs"


def active_jobs() -> str:
    return f"{PREFIX}:jobs:active"


def tenant_active(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:active"


def tenant_usage(tenant: str, day: str) -> str:
    """The trial-epochs of one UTC day (``YYYYMMDD``)."""
    return f"{PREFIX}:tenant:{tenant}:usage:{day}"


def leases() -> str:
    return f"{PREFIX}:leases"


def sweep_lock() -> str:
    return f"{PREFIX}:sweep:lock"


def dataset(dataset_id: str) -> str:
    return f"{PREFIX}:dataset:{{{dataset_id}}}"


def dataset_data(dataset_id: str) -> str:
    return f"{dataset(dataset_id)}:data"


def dataset_tenants(dataset_id: str) -> str:
    return f"{dataset(dataset_id)}:tenants"


def tenant_datasets(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:datasets"


def tenant_dataset_bytes(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:dataset_bytes"


def idempotency(tenant: str, digest: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:idem:{digest}"


def webhooks_pending() -> str:
    return f"{PREFIX}:webhooks:pending"


def webhook_lock(job_id: str) -> str:
    return f"{job(job_id)}:webhook_lock"


def workers() -> str:
    return f"{PREFIX}:workers"


def family_definitions() -> str:
    """Plugin family name -> the definition its workers published (JSON)."""
    return f"{PREFIX}:families"


def family_workers(name: str) -> str:
    """The workers that offer a plugin family, by when they last said so."""
    return f"{PREFIX}:family_workers:{name}"


def stats_jobs_finished() -> str:
    return f"{PREFIX}:stats:jobs_finished"


def stats_trials() -> str:
    return f"{PREFIX}:stats:trials"


def stats_trial_seconds() -> str:
    return f"{PREFIX}:stats:trial_seconds"


def api_key(digest: str) -> str:
    """An API key's record, found by the SHA-256 of the key (the key itself is never stored)."""
    return f"{PREFIX}:apikey:{digest}"


def api_key_index() -> str:
    return f"{PREFIX}:apikeys"


def streams(caller: str) -> str:
    """The open event streams of one API key (or tenant, with authentication off)."""
    return f"{PREFIX}:streams:{caller}"


def rate(caller: str) -> str:
    return f"{PREFIX}:rate:{caller}"


def auth_failures(address: str) -> str:
    return f"{PREFIX}:authfail:{address}"


def broker_options() -> str:
    """The fingerprint of the Celery options every process of a deployment must share."""
    return f"{PREFIX}:broker_options"


def job_ahead(job_id: str) -> str:
    """Bayesian suggestions computed ahead of need (a list of JSON points with their basis)."""
    return f"{job(job_id)}:ahead"


def job_refill(job_id: str) -> str:
    """Held while one refill of the job's suggestions is asked for or running."""
    return f"{job(job_id)}:refill"
