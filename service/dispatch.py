"""Sending tasks to the workers by name: the API never imports worker code."""

from __future__ import annotations

from celery import Celery

from service.core.contract import ROUTES, TASK_ADVANCE, celery_config
from service.core.settings import Settings


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self._celery = Celery("tuneq-api")
        self._celery.conf.update(celery_config(settings))

    def advance(self, job_id: str) -> None:
        """Ask a control worker to schedule the job's next trials."""
        self._celery.send_task(TASK_ADVANCE, args=[job_id], **ROUTES[TASK_ADVANCE])
