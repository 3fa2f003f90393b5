"""tuneq worker: Celery tasks over a plain-Python tuning engine."""
