"""One settings object, read once from the environment.

Every module takes a ``Settings`` instead of reading ``os.environ`` itself, so a value is parsed
and checked in one place and a test can build the exact configuration it needs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from service.core import redis_url
from service.core.spec.types import SpecLimits

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(ValueError):
    """An environment variable holds a value tuneq cannot use."""


@dataclass(frozen=True)
class Settings:
    """Deployment settings. Each field maps to ``TUNEQ_<FIELD NAME IN UPPER CASE>``."""

    redis_url: str = DEFAULT_REDIS_URL
    # Broker: a task unacknowledged this long is redelivered; must exceed the longest trial.
    visibility_timeout_s: int = 4 * 3600
    # A running trial's lease; its heartbeat renews it every third of this.
    trial_lease_s: int = 60
    # The longest a trial may run (its hard limit when the job sets none).
    max_trial_time_s: int = 3 * 3600
    # A trial whose worker was lost is retried until it has run this many times.
    max_attempts: int = 3
    # How often the sweep looks for expired leases, lost messages and stuck jobs.
    sweep_interval_s: int = 10
    # A queued trial not picked up this long after dispatch is sent again.
    requeue_after_s: int = 600
    # Seconds a finished job (and its trials) is kept in Redis.
    job_retention_s: int = 30 * 24 * 3600
    # Upper bounds that a job spec may ask for.
    max_trials_limit: int = 1000
    max_epochs_limit: int = 1000
    max_parallelism_limit: int = 64
    max_request_bytes: int = 1024 * 1024
    # Most hyperparameters one job may search at once.
    max_search_dimensions: int = 32
    # Unfinished jobs one tenant may have (429 with Retry-After above it).
    max_active_jobs_per_tenant: int = 20
    # Compute per tenant and UTC day, in trial-epochs (one epoch of one trial, every fold
    # counted; 0: no limit): a job that could need more alone is refused (422), new jobs wait
    # once it is spent (429 until midnight UTC), and running jobs start no new trials.
    tenant_trial_epochs_per_day: int = 250_000
    # Every job gets a time limit: this one when its spec sets none (0: none), at most the other.
    default_max_duration_s: float = 24 * 3600.0
    max_duration_limit_s: float = 7 * 24 * 3600.0
    # A spec that does not say how to validate gets k-fold cross-validation (5 folds, fewer for
    # a rare class) on a dataset of fewer rows than this (0: always the 20 % hold-out): one
    # hold-out of a small dataset is too few rows to pick a model by.
    kfold_below_rows: int = 1000
    # Requests per minute one API key may make (429 with Retry-After above it; 0: no limit).
    rate_limit_per_minute: int = 1200
    # Failed authentications per minute from one address (429 above it; 0: no limit).
    auth_failures_per_minute: int = 60
    # Event streams (server-sent events): open at once per API key (429 above it), held at once
    # by one API process (503 above it; keep it below the process's threads, so that streams
    # never hold every thread), and the longest one lasts before the client must reconnect
    # (with Last-Event-ID, losing nothing).
    max_streams_per_key: int = 4
    streams_per_process: int = 4
    stream_max_s: float = 300.0
    # Largest model (parameters) a search space may produce; bigger spaces are refused (422).
    max_model_params: int = 50_000_000
    # Largest refit model (bytes of its .keras file) kept for download.
    max_model_bytes: int = 256 * 1024 * 1024
    # A worker process is replaced after this many tasks, to bound leaked memory.
    worker_max_tasks_per_child: int = 100
    # The worker takes one task, runs it to the end (SIGTERM included: it finishes its trial
    # rather than hand it back), records it and exits (`tuneq worker --once` sets it).
    worker_once: bool = False
    # Seconds the API waits for Redis before answering 503.
    redis_timeout_s: float = 2.0
    # Accept jobs of the synthetic model family (for tests and benchmarks).
    allow_synthetic: bool = False
    # Uploaded datasets: the largest upload (413 above), what its arrays may unpack to (the API
    # holds them about three times over while it checks them), rows, features per sample, the
    # datasets and the stored bytes a tenant may hold, and uploads one API process checks at
    # once (503 above it).
    max_dataset_bytes: int = 64 * 1024 * 1024
    max_dataset_unpacked_bytes: int = 128 * 1024 * 1024
    max_dataset_rows: int = 1_000_000
    max_dataset_features: int = 10_000
    max_datasets_per_tenant: int = 100
    max_dataset_bytes_per_tenant: int = 1024 * 1024 * 1024
    uploads_per_process: int = 2
    # A table's encoding (kept with each dataset at upload): the most frequent categories a
    # column keeps one-hot and embedded (the rest share an out-of-vocabulary slot: never
    # refused), and the words a text column's bag keeps.
    table_one_hot_categories: int = 32
    table_embedded_categories: int = 1000
    table_text_words: int = 200
    # Webhooks: hosts a job's callback_url may name (comma-separated; empty turns webhooks
    # off), the key that signs deliveries (HMAC-SHA256), plain HTTP to loopback hosts for
    # development, and how many times a delivery is tried before it is marked failed.
    webhook_allowed_hosts: str = ""
    webhook_secret: str = ""
    webhook_allow_http_loopback: bool = False
    # Deliver to hosts that resolve to private, link-local or reserved addresses (inside the
    # deployment's own network); loopback is allowed only with the development setting above.
    webhook_allow_private_addresses: bool = False
    webhook_max_attempts: int = 8
    # Log lines as "text" or "json" (one object per line, with job and trial ids).
    log_format: str = "text"
    # Serve every request as tenant "default" without an API key. For one developer's machine
    # only (`tuneq dev` turns it on); the API logs a warning when it is on.
    auth_disabled: bool = False

    @property
    def webhook_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.webhook_allowed_hosts.split(",") if h.strip())

    def spec_limits(self) -> SpecLimits:
        """The bounds a job spec is checked against at submission."""
        return SpecLimits(
            max_trials=self.max_trials_limit,
            max_epochs=self.max_epochs_limit,
            max_parallelism=self.max_parallelism_limit,
            max_trial_time_s=self.max_trial_time_s,
            allow_synthetic=self.allow_synthetic,
            max_model_params=self.max_model_params,
            max_dimensions=self.max_search_dimensions,
            max_duration_s=self.max_duration_limit_s,
            trial_epochs_per_day=self.tenant_trial_epochs_per_day,
            kfold_below_rows=self.kfold_below_rows,
            webhook_hosts=self.webhook_hosts,
            webhook_http_loopback=self.webhook_allow_http_loopback,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``TUNEQ_*`` variables; anything unset keeps its default.

        Raises:
            SettingsError: a variable does not parse as its field's type or is out of range.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            name = f"TUNEQ_{field.name.upper()}"
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[field.name] = _parse(name, raw.strip(), field.type)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse combinations that would silently break the service."""
        try:
            redis_url.check(self.redis_url)
        except redis_url.RedisUrlError as exc:
            raise SettingsError(f"TUNEQ_REDIS_URL: {exc}") from None
        for name in (
            "visibility_timeout_s",
            "trial_lease_s",
            "max_trials_limit",
            "max_epochs_limit",
            "max_parallelism_limit",
            "max_request_bytes",
            "max_model_params",
            "max_model_bytes",
            "worker_max_tasks_per_child",
            "max_dataset_bytes",
            "max_dataset_rows",
            "max_dataset_features",
            "max_datasets_per_tenant",
            "max_dataset_unpacked_bytes",
            "max_dataset_bytes_per_tenant",
            "uploads_per_process",
            "table_one_hot_categories",
            "table_embedded_categories",
            "table_text_words",
            "max_search_dimensions",
            "max_active_jobs_per_tenant",
            "webhook_max_attempts",
            "max_streams_per_key",
            "max_duration_limit_s",
            "streams_per_process",
            "stream_max_s",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"TUNEQ_{name.upper()} must be positive")
        if self.webhook_allowed_hosts and len(self.webhook_secret) < 16:
            raise SettingsError(
                "TUNEQ_WEBHOOK_SECRET must hold at least 16 characters when webhooks are on"
            )
        if self.log_format not in ("text", "json"):
            raise SettingsError("TUNEQ_LOG_FORMAT must be text or json")
        for name in (
            "rate_limit_per_minute",
            "auth_failures_per_minute",
            "tenant_trial_epochs_per_day",
            "default_max_duration_s",
            "kfold_below_rows",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"TUNEQ_{name.upper()} must be 0 (off) or positive")
        if self.visibility_timeout_s <= self.max_trial_time_s + self.trial_lease_s:
            raise SettingsError(
                "TUNEQ_VISIBILITY_TIMEOUT_S must exceed TUNEQ_MAX_TRIAL_TIME_S plus "
                "TUNEQ_TRIAL_LEASE_S, or the broker redelivers trials that are still running"
            )


def _parse(name: str, raw: str, kind: object) -> object:
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    if kind_name == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    try:
        if kind_name == "int":
            return int(raw)
        if kind_name == "float":
            return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a {kind_name}, got {raw!r}") from exc
    return raw
