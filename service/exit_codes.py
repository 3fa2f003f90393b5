"""The ``tuneq`` client commands' exit codes: stable, so that pipelines can branch on them."""

from __future__ import annotations

PASSED = 0  # the job succeeded and every --fail-under / --fail-over threshold held
THRESHOLD_FAILED = 1  # a threshold was not met (the JUnit file says which)
JOB_FAILED = 2  # the job failed or was cancelled, the spec or a flag was invalid, or refused
TIMED_OUT = 3  # --timeout passed before the job finished
UNREACHABLE = 4  # the server could not be reached or answered 5xx, or the key was refused
INTERRUPTED = 5  # SIGINT or SIGTERM: submit cancels its job (unless detached); watch never does

TABLE = """exit codes:
  0  passed: the job succeeded and every threshold held
  1  a --fail-under / --fail-over threshold was not met
  2  the job failed or was cancelled; an invalid spec, flag or metric name; a refused request
  3  timed out waiting (--timeout)
  4  cannot reach the server (or it answered 5xx after retries), or the key was refused
  5  interrupted (SIGINT / SIGTERM): submit cancels its job unless --detach-on-interrupt;
     watch leaves it running"""


class SpecError(ValueError):
    """A spec file or a flag that cannot be used, found before anything is sent (exit 2)."""
