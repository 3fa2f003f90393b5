"""Every Redis key name tuneq uses, built in this one module.

Layout (the job id sits in a ``{hash tag}`` so that one job's keys share a Redis Cluster slot
and its Lua scripts stay single-slot):

    tuneq:job:{id}                  hash: the job record (spec, status, counters, best)
    tuneq:job:{id}:status_log       list: "status@unix-time" for each status change
    tuneq:job:{id}:trial:{n}        hash: one trial (params, state, lease, metrics, history)
    tuneq:job:{id}:lock             string: the advance lock (a token, with a short expiry)
    tuneq:tenant:{tenant}:jobs      sorted set: job ids by creation time
    tuneq:jobs:active               set: ids of jobs not yet finished (what the sweep visits)
    tuneq:sweep:lock                string: held by the one sweep running at a time
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


def job_lock(job_id: str) -> str:
    return f"{job(job_id)}:lock"


def tenant_jobs(tenant: str) -> str:
    return f"{PREFIX}:tenant:{tenant}:jobs"


def active_jobs() -> str:
    return f"{PREFIX}:jobs:active"


def sweep_lock() -> str:
    return f"{PREFIX}:sweep:lock"


def broker_options() -> str:
    """The fingerprint of the Celery options every process of a deployment must share."""
    return f"{PREFIX}:broker_options"
