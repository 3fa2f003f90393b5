"""Sending tasks to the workers by name: the API never imports worker code."""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError

from service.core import keys
from service.core.contract import (
    ROUTES,
    TASK_ADVANCE,
    TASK_IMPORTANCE,
    TASK_WEBHOOK,
    celery_config,
    check_celery_config,
    options_fingerprint,
)
from service.core.settings import Settings, SettingsError
from service.core.store.fleet import RedisFleet


class QueueUnavailable(Exception):
    """The broker could not take the task (it is down or unreachable): retry shortly."""


class Dispatcher:
    def __init__(self, settings: Settings) -> None:
        self._celery = Celery("tuneq-api")
        self._celery.conf.update(celery_config(settings))
        check_celery_config(self._celery.conf, settings)
        self._fingerprint = options_fingerprint(self._celery.conf)
        self._checked = False

    def check_shared_options(self, fleet: RedisFleet) -> None:
        """Fail if the workers of this deployment run with other broker options.

        Raises:
            SettingsError: an operator must deploy the same settings everywhere.
        """
        if self._checked:
            return
        if fleet.shared_fingerprint(self._fingerprint) != self._fingerprint:
            raise SettingsError(
                "the API's Celery options differ from the workers' (key "
                f"{keys.broker_options()}); deploy the same settings everywhere"
            )
        self._checked = True

    def advance(self, job_id: str) -> None:
        """Ask a control worker to schedule the job's next trials.

        Raises:
            QueueUnavailable: the broker did not take the task.
        """
        self._send(TASK_ADVANCE, job_id)

    def deliver_webhook(self, job_id: str) -> None:
        """Ask a control worker to deliver a finished job's webhook now (the sweep would
        otherwise pick it up within its interval)."""
        self._send(TASK_WEBHOOK, job_id)

    def importance(self, job_id: str) -> None:
        """Ask a control worker to compute the job's hyperparameter importance (cached)."""
        self._send(TASK_IMPORTANCE, job_id)

    def _send(self, task: str, job_id: str) -> None:
        try:
            self._celery.send_task(task, args=[job_id], **ROUTES[task])
        except (OperationalError, OSError) as exc:
            raise QueueUnavailable(str(exc)) from exc
