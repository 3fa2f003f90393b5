"""What every benchmark records about where it ran."""

from __future__ import annotations

import os
import platform


def cores() -> int:
    """CPU cores this process may use (the affinity mask, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe() -> str:
    return f"{platform.machine()}, {cores()} cores, Python {platform.python_version()}"
