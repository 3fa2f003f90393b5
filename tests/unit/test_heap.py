"""The worker freezes its startup heap once; what trials create afterwards is still freed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, weakref
    from worker.engine.heap import freeze_startup_heap

    class Node:
        pass

    kept = Node()
    kept.self = kept  # a cycle alive at freeze time: out of the collector's reach after
    frozen = freeze_startup_heap()
    assert frozen > 1000, frozen
    assert freeze_startup_heap() == frozen  # once per process

    later = Node()
    later.self = later  # a cycle a trial makes: still collected
    ref = weakref.ref(later)
    del later
    gc.collect()
    assert ref() is None
    assert gc.get_freeze_count() == frozen
    print("ok")
    """
)


def test_freeze_skips_the_startup_heap_and_still_frees_later_cycles() -> None:
    """Run in a fresh interpreter: freezing the test runner's own heap would outlive the test."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
