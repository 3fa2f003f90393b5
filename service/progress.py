"""Showing a job's progress: a live bar on a terminal, one plain line per change elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


class ProgressPrinter:
    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.width = width
        self.started = time.monotonic()
        self._last: tuple[Any, ...] | None = None

    def __call__(self, job: Any) -> None:
        job = job.raw if hasattr(job, "raw") else job
        progress = job["progress"]
        done, total = progress["trials_finished"], progress["trials_total"]
        metric = job["objective"]["metric"]
        best = job.get("best") or {}
        best_text = f"best {metric} {best['value']:.4f}" if best.get("value") is not None else ""
        state = (job["status"], done, best.get("value"))
        if not self.tty and state == self._last:
            return
        self._last = state
        elapsed = time.monotonic() - self.started
        if self.tty:
            filled = int(self.width * done / max(total, 1))
            bar = "#" * filled + "-" * (self.width - filled)
            line = f"\r[{bar}] {done}/{total} trials  {best_text}  {job['status']}  {elapsed:4.0f}s"
            self.stream.write(line.ljust(100))
            if job["status"] in ("succeeded", "failed", "cancelled"):
                self.stream.write("\n")
        else:
            self.stream.write(
                f"{elapsed:6.1f}s {job['status']} {done}/{total} trials {best_text}\n"
            )
        self.stream.flush()


def summary(job: dict[str, Any]) -> str:
    """A human summary of a finished job: the best configuration and its scores."""
    lines = [f"Job {job['id']} {job['status']}."]
    if job.get("error"):
        lines.append(f"Error: {job['error']}")
    best = job.get("best")
    if not best:
        return "\n".join(lines)
    metrics = best["metrics"]
    scores = "  ".join(
        f"{name} {metrics[name]:.4f}"
        for name in (
            "val_accuracy",
            "test_accuracy",
            "val_loss",
            "test_loss",
            "val_mse",
            "test_mse",
        )
        if name in metrics
    )
    lines.append(f"Best trial #{best['trial']} (epochs {best['epochs']}): {scores}")
    diagnosis = best.get("diagnosis")
    if diagnosis:
        lines.append(f"Diagnosis: {diagnosis['label']} ({'; '.join(diagnosis['evidence'])})")
        lines += [f"  - {advice}" for advice in diagnosis["advice"]]
    lines.append("Best configuration:")
    fixed = set(job.get("spec", {}).get("fixed", {}))
    for name, value in best["configuration"].items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        origin = "searched" if name in best["params"] else "fixed" if name in fixed else "default"
        lines.append(f"  {name:<18} {shown:<14} ({origin})")
    return "\n".join(lines)
