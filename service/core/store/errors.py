"""The store's own errors; each subclasses the built-in it resembles."""

from __future__ import annotations


class JobNotFound(KeyError):
    """No job with this id (or it expired)."""


class ActiveJobsLimit(Exception):
    """The tenant has as many unfinished jobs as it may."""

    def __init__(self, active: int) -> None:
        super().__init__(f"{active} unfinished jobs")
        self.active = active


class DatasetLimitReached(Exception):
    """The tenant holds as many datasets as it may."""


class DatasetQuotaReached(Exception):
    """The upload would take the tenant past the bytes of datasets it may hold."""

    def __init__(self, held: int) -> None:
        super().__init__(f"{held} bytes held")
        self.held = held
