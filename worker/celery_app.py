"""The worker's Celery app: configuration only, from the shared contract.

Importing this module must stay cheap and must not import TensorFlow: Celery's prefork pool
forks children from this process, and TensorFlow does not survive a fork.
"""

from __future__ import annotations

import os

from celery import Celery

from service.core.contract import celery_config
from service.core.settings import Settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

settings = Settings.from_env()
app = Celery("tuneq")
app.conf.update(celery_config(settings))
app.conf.include = ["worker.tasks"]
