"""Showing a job's progress: a live bar on a terminal, one plain line per change elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from service.client import Job


class ProgressPrinter:
    """Progress while waiting: a live bar on a terminal (trials done, running, best so far),
    one plain line per change otherwise (CI logs)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.last: tuple[Any, ...] | None = None

    def __call__(self, job: Job) -> None:
        running = job.raw["progress"].get("trials_created", 0) - job.trials_finished
        best = job.best.value if job.best else None
        state = (job.status, job.trials_finished, running, best)
        if state == self.last:
            return
        self.last = state
        best_text = f"best {job.metric} {best:.4f}" if best is not None else "no result yet"
        elapsed = time.monotonic() - self.started
        if self.tty:
            done = int(30 * job.trials_finished / max(job.trials_total, 1))
            bar = "#" * done + "-" * (30 - done)
            self.stream.write(
                f"\r[{bar}] {job.trials_finished}/{job.trials_total} trials, {running} running, "
                f"{best_text}, {job.status} {elapsed:5.0f}s  "
            )
            if job.finished:
                self.stream.write("\n")
        else:
            self.stream.write(
                f"[{elapsed:7.1f}s] {job.status}: {job.trials_finished}/{job.trials_total} "
                f"trials finished, {running} running, {best_text}\n"
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
