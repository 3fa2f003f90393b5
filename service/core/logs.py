"""Logging for every tuneq process: plain text on a laptop, one JSON object per line in a fleet.

Log lines carry the ids of what they are about: ``log_context(job_id=..., trial=...)`` puts
them on every record logged inside it (worker tasks and API requests set it), so a log search
for one job id finds the API call that created it, its scheduling steps and every trial.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar, Token
from typing import Any

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")
_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("tuneq_log_context", default={})  # noqa: B039
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = push_context(**fields)
    try:
        yield
    finally:
        pop_context(token)


def push_context(**fields: Any) -> Token[dict[str, Any]]:
    """``log_context`` for code that starts and ends it in two places (a request's hooks),
    without a generator per request."""
    return _CONTEXT.set({**_CONTEXT.get(), **fields})


def pop_context(token: Token[dict[str, Any]]) -> None:
    _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current ``log_context`` fields onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            setattr(record, name, value)
        return True


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(fmt: str, level: int = logging.INFO) -> None:
    """Format the root logger's handlers (adding one on stderr if it has none)."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    for handler in root.handlers:
        style(handler, fmt)


def style(handler: logging.Handler, fmt: str) -> None:
    handler.setFormatter(formatter(fmt))
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
