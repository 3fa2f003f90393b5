"""Submitting a job, as a plain function the route (and the CLI, and tests) call.

The steps, in order: an ``Idempotency-Key`` replay answers with the job it created; the spec is
validated against the server's limits and the tenant's datasets; warm-start jobs must be the
tenant's, finished and compatible; the tenant must have compute left today; the job gets the
server's default time limit when its spec sets none; then the job is created (within the
tenant's limit of unfinished jobs, in one atomic step) and its first scheduling step sent.
Whatever fails after creation removes the job again, so a refused submission leaves nothing
behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from service.core.catalog import DatasetInfo
from service.core.families import FamilyDefinition, FamilyLookup, definition_from
from service.core.settings import Settings
from service.core.spec import DatasetLookup, JobSpec, load_spec
from service.core.store import (
    ActiveJobsLimit,
    JobNotFound,
    JobStore,
    ReservationOutcome,
    StoreUnavailable,
    body_hash,
)
from service.core.store.protocols import Jobs
from service.core.store.usage import seconds_to_next_day
from service.dispatch import Dispatcher


class TooManyJobs(Exception):
    """The tenant has as many unfinished jobs as it may."""

    def __init__(self, active: int) -> None:
        super().__init__(f"{active} unfinished jobs")
        self.active = active


class ComputeSpent(Exception):
    """The tenant used its compute for the day; ``retry_after_s`` until it renews."""

    def __init__(self, used: int, budget: int, retry_after_s: int) -> None:
        super().__init__(f"{used} of {budget} trial-epochs used today")
        self.used, self.budget, self.retry_after_s = used, budget, retry_after_s


class IdempotencyConflict(Exception):
    """An ``Idempotency-Key`` that cannot be used now; ``retry`` when the first request with
    it is still being handled (rather than used with another body)."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Submitted:
    job_id: str
    status: str  # "queued", or a replayed job's status now ("deleted" once it is gone)
    replayed: bool = False


def submit_job(
    store: JobStore,
    dispatcher: Dispatcher,
    settings: Settings,
    tenant: str,
    payload: Any,
    *,
    idempotency_key: str | None = None,
) -> Submitted:
    """Validate, store and dispatch one job for ``tenant``.

    Raises:
        marshmallow.ValidationError: the spec is invalid (field paths in its messages).
        TooManyJobs: the tenant is at its limit of unfinished jobs.
        ComputeSpent: the tenant used its compute for the day.
        IdempotencyConflict: the key was used with another body, or is still in use.
        QueueUnavailable, StoreUnavailable: retry shortly; nothing was kept.
        SettingsError: the API and the workers run with other broker options.
    """
    if idempotency_key is None:
        return _submit(store, dispatcher, settings, tenant, payload)
    digest = body_hash(payload)
    reservation = store.idempotency.reserve(tenant, idempotency_key, digest)
    if reservation.outcome == ReservationOutcome.MISMATCH:
        raise IdempotencyConflict(
            "This Idempotency-Key was used with another body; use a new key.", retry=False
        )
    if reservation.outcome == ReservationOutcome.PENDING:
        raise IdempotencyConflict(
            "A request with this Idempotency-Key is still being handled; retry shortly.",
            retry=True,
        )
    if reservation.outcome == ReservationOutcome.REPLAY:
        job_id = str(reservation.job_id)
        return Submitted(job_id, _status_or_gone(store.jobs, job_id), replayed=True)
    with store.idempotency.released_on_failure(tenant, idempotency_key):
        submitted = _submit(store, dispatcher, settings, tenant, payload)
    store.idempotency.complete(tenant, idempotency_key, digest, submitted.job_id)
    return submitted


def _submit(
    store: JobStore, dispatcher: Dispatcher, settings: Settings, tenant: str, payload: Any
) -> Submitted:
    spec = load_spec(
        payload,
        settings.spec_limits(),
        datasets=tenant_datasets(store, tenant),
        families=live_families(store),
    )
    check_warm_start(store.jobs, tenant, spec)
    budget = settings.tenant_trial_epochs_per_day
    if budget and (used := store.usage.today(tenant)) >= budget:
        raise ComputeSpent(used, budget, seconds_to_next_day())
    if spec.search.max_duration_s is None and settings.default_max_duration_s:
        search = dataclasses.replace(spec.search, max_duration_s=settings.default_max_duration_s)
        spec = dataclasses.replace(spec, search=search)
    try:
        job_id = store.jobs.create(tenant, spec, settings.max_active_jobs_per_tenant)
    except ActiveJobsLimit as exc:
        raise TooManyJobs(exc.active) from None
    try:
        dispatcher.check_shared_options(store.fleet)
        dispatcher.advance(job_id)
    except BaseException:  # do not leave a job nobody will run
        with contextlib.suppress(StoreUnavailable):
            store.jobs.delete(job_id)
        raise
    return Submitted(job_id, "queued")


def live_families(store: JobStore) -> FamilyLookup:
    """Resolve an operator's family by name from what live workers offer (read once, when a
    spec names one)."""

    def resolve(name: str) -> FamilyDefinition | None:
        found = store.fleet.live_families().get(name)
        try:
            return definition_from(found) if found else None
        except ValueError:  # a worker published something unusable: not offered
            return None

    return resolve


def tenant_datasets(store: JobStore, tenant: str) -> DatasetLookup:
    """Resolve dataset ids in a job spec, seeing only the tenant's own datasets."""

    def resolve(dataset_id: str) -> DatasetInfo | None:
        if store.datasets.entry(tenant, dataset_id) is None:
            return None
        return store.datasets.info(dataset_id)

    return resolve


def check_warm_start(jobs: Jobs, tenant: str, spec: JobSpec) -> None:
    """Each warm-start job must be the tenant's, finished, and have searched the same names.

    Raises:
        marshmallow.ValidationError: naming ``search.warm_start.<i>`` for each one that is not.
    """
    problems: dict[str, list[str]] = {}
    for i, job_id in enumerate(spec.search.warm_start):
        path = f"search.warm_start.{i}"
        try:
            earlier = jobs.get(job_id)
        except JobNotFound:
            earlier = None
        if earlier is None or earlier.tenant != tenant:
            problems[path] = ["No such job."]
        elif not earlier.status.is_finished:
            problems[path] = [f"The job is {earlier.status.value}; warm start from finished jobs."]
        elif set(earlier.spec.search_space) != set(spec.search_space):
            problems[path] = ["Its search space has other hyperparameters; it is not compatible."]
    if problems:
        raise ValidationError(problems)


def _status_or_gone(jobs: Jobs, job_id: str) -> str:
    try:
        return jobs.get(job_id).status.value
    except JobNotFound:
        return "deleted"
