"""What every benchmark records about where and when it ran, how it keeps its result, and how
it runs a part in a fresh process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
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


def in_fresh_process(argv: list[str], given: Any, env: dict[str, str] | None = None) -> Any:
    """Run ``python *argv`` with ``given`` as JSON on its stdin and return the JSON of its last
    line of output: a measured loop in its own process, as a trial worker is one (a loop run
    after another in one process inherits its graphs and heap)."""
    done = subprocess.run(
        [sys.executable, *argv], input=json.dumps(given), capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
