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
    # Requests per minute one API key may make (429 with Retry-After above it; 0: no limit).
    rate_limit_per_minute: int = 1200
    # Largest model (parameters) a search space may produce; bigger spaces are refused (422).
    max_model_params: int = 50_000_000
    # Largest refit model (bytes of its .keras file) kept for download.
    max_model_bytes: int = 256 * 1024 * 1024
    # A worker process is replaced after this many tasks, to bound leaked memory.
    worker_max_tasks_per_child: int = 100
    # Seconds the API waits for Redis before answering 503.
    redis_timeout_s: float = 2.0
    # Accept jobs of the synthetic model family (for tests and benchmarks).
    allow_synthetic: bool = False
    # Uploaded datasets: the largest upload (413 above; unpacked arrays may be 8 times this),
    # rows, features per sample, and datasets a tenant may hold.
    max_dataset_bytes: int = 64 * 1024 * 1024
    max_dataset_rows: int = 1_000_000
    max_dataset_features: int = 10_000
    max_datasets_per_tenant: int = 100
    # Webhooks: hosts a job's callback_url may name (comma-separated; empty turns webhooks
    # off), the key that signs deliveries (HMAC-SHA256), plain HTTP to loopback hosts for
    # development, and how many times a delivery is tried before it is marked failed.
    webhook_allowed_hosts: str = ""
    webhook_secret: str = ""
    webhook_allow_http_loopback: bool = False
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
            "max_search_dimensions",
            "max_active_jobs_per_tenant",
            "webhook_max_attempts",
        ):
            if getattr(self, name) <= 0:
                raise SettingsError(f"TUNEQ_{name.upper()} must be positive")
        if self.webhook_allowed_hosts and len(self.webhook_secret) < 16:
            raise SettingsError(
                "TUNEQ_WEBHOOK_SECRET must hold at least 16 characters when webhooks are on"
            )
        if self.log_format not in ("text", "json"):
            raise SettingsError("TUNEQ_LOG_FORMAT must be text or json")
        if self.rate_limit_per_minute < 0:
            raise SettingsError("TUNEQ_RATE_LIMIT_PER_MINUTE must be 0 (off) or positive")
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
