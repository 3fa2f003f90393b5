"""What the API and the workers agree on about Celery: task names, queues, broker options.

The API sends tasks by name with these constants, so it never imports worker code; the worker
registers its tasks under the same names. Both build their Celery configuration from
``celery_config`` so the broker options cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from service.core.settings import Settings

TASK_ADVANCE = "tuneq.advance"
TASK_RUN_TRIAL = "tuneq.run_trial"
TASK_FINALIZE = "tuneq.finalize"
TASK_SWEEP = "tuneq.sweep"

QUEUE_CONTROL = "control"
QUEUE_TRIALS = "trials"

ROUTES = {
    TASK_ADVANCE: {"queue": QUEUE_CONTROL},
    TASK_RUN_TRIAL: {"queue": QUEUE_TRIALS},
    TASK_FINALIZE: {"queue": QUEUE_TRIALS},
    TASK_SWEEP: {"queue": QUEUE_CONTROL},
}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery options for both sides: JSON only, late acks, one message at a time."""
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
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
