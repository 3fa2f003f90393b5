"""What every benchmark records about where and when it ran, and how it keeps its result."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def cores() -> int:
    """CPU cores this process may use (the affinity mask, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe() -> str:
    return f"{platform.machine()}, {cores()} cores, Python {platform.python_version()}"


def save(path: Path | str, result: dict[str, Any]) -> None:
    """Write ``result`` as JSON to ``path``, stamped with the date and this machine first."""
    stamped = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(),
        **result,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(stamped, indent=2) + "\n")
    print(f"wrote {path}")
