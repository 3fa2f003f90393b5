"""Sending tasks to the workers by name: the API never imports worker code."""

from __future__ import annotations

import redis
from celery import Celery

from service.core import keys
from service.core.contract import (
    ROUTES,
    TASK_ADVANCE,
    TASK_WEBHOOK,
    celery_config,
    check_celery_config,
    options_fingerprint,
)
from service.core.settings import Settings, SettingsError


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self._celery = Celery("tuneq-api")
        self._celery.conf.update(celery_config(settings))
        check_celery_config(self._celery.conf, settings)
        self._fingerprint = options_fingerprint(self._celery.conf)
        self._checked = False

    def check_shared_options(self, client: redis.Redis) -> None:
        """Fail if the workers of this deployment run with other broker options."""
        if self._checked:
            return
        key = keys.broker_options()
        client.set(key, self._fingerprint, nx=True)
        if client.get(key) not in (self._fingerprint, self._fingerprint.encode()):
            raise SettingsError(
                "the API's Celery options differ from the workers' (key "
                f"{key}); deploy the same settings everywhere"
            )
        self._checked = True

    def advance(self, job_id: str) -> None:
        """Ask a control worker to schedule the job's next trials."""
        self._celery.send_task(TASK_ADVANCE, args=[job_id], **ROUTES[TASK_ADVANCE])

    def deliver_webhook(self, job_id: str) -> None:
        """Ask a control worker to deliver a finished job's webhook now (the sweep would
        otherwise pick it up within its interval)."""
        self._celery.send_task(TASK_WEBHOOK, args=[job_id], **ROUTES[TASK_WEBHOOK])
