"""What the API and the workers agree on about Celery: task names, queues, broker options.

The API sends tasks by name with these constants, so it never imports worker code; the worker
registers its tasks under the same names. Both build their Celery configuration from
``celery_config`` so the broker options cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from service.core import redis_url
from service.core.settings import Settings, SettingsError

TASK_ADVANCE = "tuneq.advance"
TASK_RUN_TRIAL = "tuneq.run_trial"
TASK_FINALIZE = "tuneq.finalize"
TASK_SWEEP = "tuneq.sweep"
TASK_WEBHOOK = "tuneq.deliver_webhook"
TASK_IMPORTANCE = "tuneq.importance"
TASK_REFILL = "tuneq.refill"

QUEUE_CONTROL = "control"
QUEUE_TRIALS = "trials"

ROUTES = {
    TASK_ADVANCE: {"queue": QUEUE_CONTROL},
    TASK_RUN_TRIAL: {"queue": QUEUE_TRIALS},
    TASK_FINALIZE: {"queue": QUEUE_TRIALS},
    TASK_SWEEP: {"queue": QUEUE_CONTROL},
    TASK_WEBHOOK: {"queue": QUEUE_CONTROL},
    TASK_IMPORTANCE: {"queue": QUEUE_CONTROL},
    TASK_REFILL: {"queue": QUEUE_CONTROL},
}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery options for both sides: JSON only, late acks, one message at a time."""
    broker_url, transport = redis_url.celery_broker(settings.redis_url)
    return {
        "broker_url": broker_url,
        "broker_transport_options": {
            **transport,
            "visibility_timeout": settings.visibility_timeout_s,
        },
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "task_routes": ROUTES,
        "task_default_queue": QUEUE_CONTROL,
        "beat_schedule": {
            "sweep": {"task": TASK_SWEEP, "schedule": float(settings.sweep_interval_s)},
        },
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
    }


# Options that the API and every worker must agree on: a message one side sends must be one the
# other side reads, and redelivery must not start while a trial may still run.
SHARED_OPTIONS = (
    "broker_transport_options",
    "task_serializer",
    "accept_content",
    "task_routes",
    "task_acks_late",
    "task_reject_on_worker_lost",
)


def check_celery_config(conf: Mapping[str, Any], settings: Settings) -> None:
    """Refuse to start with a configuration that would lose or duplicate work.

    Raises:
        SettingsError: naming the option and what it must be.
    """
    problems = []
    if conf.get("task_serializer") != "json" or list(conf.get("accept_content") or []) != ["json"]:
        problems.append("tasks must be serialized as JSON only (task_serializer, accept_content)")
    if conf.get("result_serializer") not in (None, "json"):
        problems.append("result_serializer must be json")
    if not conf.get("task_acks_late") or not conf.get("task_reject_on_worker_lost"):
        problems.append("task_acks_late and task_reject_on_worker_lost must be on")
    visibility = (conf.get("broker_transport_options") or {}).get("visibility_timeout", 3600)
    if visibility <= settings.max_trial_time_s + settings.trial_lease_s:
        problems.append(
            f"broker visibility_timeout ({visibility} s) must exceed the longest trial "
            f"({settings.max_trial_time_s} s) plus its lease ({settings.trial_lease_s} s)"
        )
    if problems:
        raise SettingsError("unsafe Celery configuration: " + "; ".join(problems))


def options_fingerprint(conf: Mapping[str, Any]) -> str:
    """A digest of the options both sides must share, to compare across processes."""
    shared = {name: conf.get(name) for name in SHARED_OPTIONS}
    return hashlib.sha256(json.dumps(shared, sort_keys=True, default=str).encode()).hexdigest()
