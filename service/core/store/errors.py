"""The store's own errors; each subclasses the built-in it resembles."""

from __future__ import annotations


class JobNotFound(KeyError):
    """No job with this id (or it expired)."""


class DatasetLimitReached(Exception):
    """The tenant holds as many datasets as it may."""
