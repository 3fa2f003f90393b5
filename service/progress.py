"""Showing a job's progress: a live bar on a terminal, one plain line per change elsewhere."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from service.core.refit_summary import (
    describe_finalists,
    describe_model_io,
    describe_pareto,
    describe_refit,
)
from service.core.vocabulary import origin

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


def summary(job: dict[str, Any], gated: Sequence[str] = ()) -> str:
    """A human summary of a finished job: its objective, the best configuration and every
    validation and test score of it (and any ``gated`` metric), the diagnosis and its advice."""
    lines = [f"Job {job['id']} {job['status']}."]
    if job.get("error"):
        lines.append(f"Error: {job['error']}")
    found = (job.get("summary") or {}).get("lr_range")
    if found:
        return "\n".join(lines + _range_test(found))
    objective = job.get("objective") or {}
    if objective:
        lines.append(f"Objective: {objective['direction']}imize {objective['metric']}")
    best = job.get("best")
    if not best:
        return "\n".join(lines)
    total = job.get("progress", {}).get("trials_total", "?")
    folds = f" per fold, {best['folds']} folds" if best.get("folds", 1) > 1 else ""
    lines.append(f"Best trial: number {best['trial']} of {total} (numbered from 0), "
                 f"{best['epochs']} epochs{folds}")  # fmt: skip
    lines += _scores(best["metrics"], gated)
    summary = job.get("summary") or {}
    lines += describe_pareto(summary.get("pareto"))
    lines += describe_finalists(summary.get("finalists"), objective.get("metric", ""))
    lines += describe_refit(summary.get("refit") or {}, objective.get("metric", ""))
    model = job.get("model") or {}
    lines += describe_model_io(model.get("input") or {}, model.get("class_names"))
    carried = ((job.get("summary") or {}).get("warm_start") or {}).get("best") or {}
    if carried.get("from_source"):
        lines.append(
            f"Warm start: trial {carried['trial']} of job {carried['job_id']} scored "
            f"{carried['value']:.4f}, better than this job's best (measured the same way); "
            f"its model: tuneq model {carried['job_id']}"
        )
    diagnosis = best.get("diagnosis")
    if diagnosis:
        lines.append(f"Diagnosis: {diagnosis['label']} ({'; '.join(diagnosis['evidence'])})")
        lines += [f"  - {advice}" for advice in diagnosis["advice"]]
    lines.append("Best configuration:")
    fixed = set(job.get("spec", {}).get("fixed", {}))
    width = max([18, *map(len, best["configuration"])])
    for name, value in best["configuration"].items():
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        lines.append(f"  {name:<{width}} {shown:<14} ({origin(name, best['params'], fixed)})")
    return "\n".join(lines)


def _range_test(found: dict[str, Any]) -> list[str]:
    """A learning-rate range test's reading: the rate, and the range to search next."""
    if "suggested_learning_rate" not in found:
        return [f"Learning-rate range test: {found.get('error', 'no suggestion')}"]
    rate, span = found["suggested_learning_rate"], found["suggested_range"]
    return [
        "A learning-rate range test.",
        f"Suggested learning rate: {rate:.3g}",
        f"Suggested search range: {span['low']:.3g} to {span['high']:.3g} (log scale):",
        f'  "learning_rate": {json.dumps(span)}',
    ]


def _scores(metrics: dict[str, float], gated: Sequence[str]) -> list[str]:
    """Validation and test scores side by side; metrics a gate asked for that are neither."""

    def shown(name: str) -> str:
        value = metrics.get(name)
        return f"{value:.4f}" if isinstance(value, int | float) else "-"

    bases = sorted(
        {k.split("_", 1)[1] for k in metrics if k.startswith(("val_", "test_"))}
        - {k.split("_", 1)[1] for k in metrics if k.endswith("_std")}
    )
    others = [g for g in gated if not g.startswith(("val_", "test_"))]
    width = max([16, *map(len, bases), *map(len, others)])
    lines = [f"{'Scores:':<{width + 3}}validation     test"] if bases else []
    lines += [
        f"  {base:<{width}} {shown('val_' + base):>10} {shown('test_' + base):>8}" for base in bases
    ]
    lines += [f"  {name:<{width}} {shown(name):>10}  (gated)" for name in others]
    return lines
