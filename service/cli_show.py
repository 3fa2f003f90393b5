"""The ``tuneq`` commands that read and manage what is there: jobs, trials, the best result,
models, reports, datasets. Text for people (aligned, rounded), ``--json`` for programs."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from service.client import ApiError, Client
from service.core.wire import PLOTS
from service.exit_codes import JOB_FAILED, PASSED
from service.progress import summary


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(header: list[str], rows: list[list[Any]]) -> str:
    """Columns aligned to their widest cell; numbers right-aligned, rounded to 4 digits."""
    cells = [header, *[[_cell(v) for v in row] for row in rows]]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows)
        for i in range(len(header))
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if number else cell.ljust(width)
            for cell, width, number in zip(line, widths, numeric, strict=True)
        ).rstrip()
        for line in cells
    )


def cmd_status(args: argparse.Namespace, client: Client) -> int:
    job = client.get(args.id)
    if args.json:
        _json(job.raw)
    else:
        best = f", best {job.metric} {job.best.value:.4f}" if job.best and job.best.value else ""
        done = f"{job.trials_finished}/{job.trials_total} trials"
        print(f"{job.id} {job.name}: {job.status}, {done}{best}")
    return PASSED if job.status not in ("failed", "cancelled") else JOB_FAILED


def cmd_jobs(args: argparse.Namespace, client: Client) -> int:
    jobs = client.jobs(status=args.status, name=args.name, limit=args.limit)
    if args.json:
        _json(jobs)
        return PASSED
    rows = [
        [
            j["id"],
            j["name"],
            j["status"],
            f"{j['progress']['trials_finished']}/{j['progress']['trials_total']}",
            j.get("best_value"),
            (j.get("created_at") or "")[:19].replace("T", " "),
        ]
        for j in jobs
    ]
    print(table(["id", "name", "status", "trials", "best", "created (UTC)"], rows))
    return PASSED


def cmd_trials(args: argparse.Namespace, client: Client) -> int:
    trials = client.trials(args.id)
    if args.json:
        _json([t.raw for t in trials])
        return PASSED
    names = sorted({name for t in trials for name in t.params})
    rows = [
        [t.number, t.state, t.value, t.epochs, *[t.params.get(n) for n in names]] for t in trials
    ]
    print(table(["trial", "state", "value", "epochs", *names], rows))
    return PASSED


def cmd_best(args: argparse.Namespace, client: Client) -> int:
    job = client.get(args.id)
    found = (job.raw.get("summary") or {}).get("lr_range")
    if args.json:
        _json(job.raw.get("best") if job.best else found)
    else:
        print(summary(job.raw))
    return PASSED if job.best or found else JOB_FAILED


def cmd_cancel(args: argparse.Namespace, client: Client) -> int:
    job = client.cancel(args.id, refit=args.refit)
    if args.json:
        _json(job.raw)
    elif job.status == "stopping" and job.best is not None:
        print(
            f"{job.id}: stopping. Its best trial (number {job.best.trial}) is being refit and "
            f"scored; then it is cancelled with its model. `tuneq watch {job.id}` follows it."
        )
    else:
        print(f"{job.id}: {job.status}")
    return PASSED


def cmd_delete(args: argparse.Namespace, client: Client) -> int:
    client.delete(args.id)
    print(f"Deleted job {args.id} with its trials and model.")
    return PASSED


def cmd_model(args: argparse.Namespace, client: Client) -> int:
    if args.id == "import":  # tuneq model import FILE > model.json
        if not args.file:
            print("tuneq model import needs a .keras or .json file.", file=sys.stderr)
            return JOB_FAILED  # an invalid flag (exit 2)
        imported = client.import_model(args.file)
        for note in imported["notes"]:
            print(f"note: {note}", file=sys.stderr)
        print(json.dumps(imported["model"], indent=2))
        return PASSED
    job = client.get(args.id)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", job.name)[:100] or "model"
    path = client.download_model(job.id, args.output or f"{safe}-{job.id[:8]}.keras")
    print(f"Saved the model of job {job.id} to {path} ({path.stat().st_size:,} bytes).")
    return PASSED


def cmd_report(args: argparse.Namespace, client: Client) -> int:
    if not args.out:
        print(client.report(args.id, fmt=args.format))
        return PASSED
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(client.report(args.id, fmt="html"))
    (out / "report.md").write_text(client.report(args.id, fmt="markdown"))
    saved = ["report.html", "report.md"]
    for name in PLOTS:
        try:
            (out / f"{name}.png").write_bytes(client.plot(args.id, name))
            saved.append(f"{name}.png")
        except ApiError as exc:
            if exc.status != 404:  # a plot that does not apply to this job
                raise
    print(f"Saved {', '.join(saved)} to {out}")
    return PASSED


def _describe_columns(raw: dict[str, Any]) -> list[str]:
    """A table's columns as read (kind, empty cells, why one is ignored), and its classes."""
    lines = []
    if raw.get("class_names") and raw.get("column_kinds") is not None:
        lines.append(f"classes: {', '.join(raw['class_names'])}")
    for column in raw.get("column_kinds") or ():
        empty = f", {column['missing']} empty" if column.get("missing") else ""
        note = f" ({column['note']})" if column.get("note") else ""
        lines.append(f"  {column['name']:<20} {column['kind']}{empty}{note}")
    return lines


def cmd_datasets(args: argparse.Namespace, client: Client) -> int:
    if args.datasets_command == "upload":
        dataset = client.upload_dataset(
            args.file, target=args.target, task=args.task, name=args.name,
            column_types=dict(args.column or ()),
        )  # fmt: skip
        if args.json:
            _json(dataset.raw)
        else:
            shape = f"{dataset.n_features} features, splits {dataset.splits}"
            print(f"{dataset.id}  {dataset.task}, {shape}")
            print("\n".join(_describe_columns(dataset.raw)))
        return PASSED
    found = client.datasets()
    if args.json:
        _json([d.raw for d in found])
        return PASSED
    rows = [[d.id, d.name, d.task, d.n_features, json.dumps(d.splits)] for d in found]
    print(table(["id", "name", "task", "features", "splits"], rows))
    return PASSED
