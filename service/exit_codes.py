"""The ``tuneq`` client commands' exit codes: stable, so that pipelines can branch on them."""

from __future__ import annotations

PASSED = 0  # the job succeeded and every --fail-under / --fail-over threshold held
THRESHOLD_FAILED = 1  # a threshold was not met (the JUnit file says which)
JOB_FAILED = 2  # the job failed or was cancelled, the spec or a flag was invalid, or refused
TIMED_OUT = 3  # --timeout passed before the job finished
UNREACHABLE = 4  # the server could not be reached, or the key was refused
INTERRUPTED = 5  # SIGINT or SIGTERM while waiting: the job was cancelled (or left running)

TABLE = """exit codes:
  0  passed: the job succeeded and every threshold held
  1  a --fail-under / --fail-over threshold was not met
  2  the job failed or was cancelled; an invalid spec, flag or metric name; a refused request
  3  timed out waiting (--timeout)
  4  cannot reach the server, or the key was refused
  5  interrupted (SIGINT / SIGTERM): the job was cancelled, unless --detach-on-interrupt"""


class SpecError(ValueError):
    """A spec file or a flag that cannot be used, found before anything is sent (exit 2)."""
