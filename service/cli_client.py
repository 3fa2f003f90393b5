"""The client half of the ``tuneq`` command line: submit, watch and gate on jobs from CI.

Exit codes (stable, for pipelines):
    0  passed: the job succeeded and every ``--fail-under``/``--fail-over`` threshold held
    1  a threshold was not met (the JUnit file says which)
    2  the job failed or was cancelled, the spec was invalid (its field errors are printed), or
       the server refused the request
    3  timed out waiting
    4  cannot reach the server, or not authorized
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.client import (
    ApiError,
    Client,
    ConnectionFailed,
    Job,
    Unauthorized,
    WaitTimeout,
)
from service.progress import ProgressPrinter

PASSED, THRESHOLD_FAILED, JOB_FAILED, TIMED_OUT, UNREACHABLE = 0, 1, 2, 3, 4
DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Threshold:
    metric: str
    value: float
    at_least: bool  # --fail-under: the metric must reach value; --fail-over: stay at or below

    @property
    def label(self) -> str:
        return f"{self.metric} {'>=' if self.at_least else '<='} {self.value:g}"

    def check(self, metrics: dict[str, float]) -> str | None:
        """None when it holds, else why not."""
        got = metrics.get(self.metric)
        if got is None:
            return f"{self.metric} was not reported (reported: {', '.join(sorted(metrics))})"
        held = got >= self.value if self.at_least else got <= self.value
        return None if held else f"{self.metric} is {got:.6g}, needed {self.label}"


def threshold(at_least: bool) -> Any:
    def parse(text: str) -> Threshold:
        metric, sep, value = text.partition("=")
        try:
            if not sep or not metric:
                raise ValueError(text)
            return Threshold(metric.strip(), float(value), at_least)
        except ValueError:
            raise argparse.ArgumentTypeError(f"use METRIC=VALUE, got {text!r}") from None

    return parse


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``2h`` or ``1h30m``."""
    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
    if not text or not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"use a duration like 90s, 15m or 2h, got {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def load_spec_file(path: str) -> dict[str, Any]:
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        spec = yaml.safe_load(text)
    else:
        spec = json.loads(text)
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a job spec is a mapping (JSON object)")
    return spec


def junit(job: Job, results: list[tuple[Threshold, str | None]], path: str, seconds: float) -> None:
    """One test case per threshold (plus one for the job's own success), the best configuration
    as properties: the report format CI systems display."""
    cases: list[tuple[str, str | None]] = [
        ("job succeeded", None if job.status == "succeeded" else f"job {job.status}: {job.error}")
    ]
    cases += [(t.label, problem) for t, problem in results]
    suite = ET.Element(
        "testsuite",
        name=f"tuneq.{job.name}",
        tests=str(len(cases)),
        failures=str(sum(problem is not None for _, problem in cases)),
        errors="0",
        time=f"{seconds:.1f}",
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="job_id", value=job.id)
    if job.best is not None:
        for name, value in job.best.configuration.items():
            ET.SubElement(properties, "property", name=f"best.{name}", value=str(value))
        for name, value in sorted(job.best.metrics.items()):
            ET.SubElement(properties, "property", name=f"metric.{name}", value=f"{value:.6g}")
    for name, problem in cases:
        case = ET.SubElement(suite, "testcase", classname=f"tuneq.{job.name}", name=name)
        if problem is not None:
            ET.SubElement(case, "failure", message=problem, type="threshold").text = problem
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, api_key=args.api_key, retries=args.retries)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_submit(args: argparse.Namespace) -> int:
    client = _client(args)
    spec = load_spec_file(args.spec)
    if args.dataset:
        uploaded = client.upload_dataset(args.dataset)
        spec["dataset"] = {"id": uploaded.id}
        print(f"Uploaded {args.dataset}: dataset {uploaded.id}", file=sys.stderr)
    job = client.submit(spec, idempotency_key=args.idempotency_key)
    print(f"Submitted job {job.id} ({job.name})", file=sys.stderr)
    thresholds = [*args.fail_under, *args.fail_over]
    if not (args.wait or thresholds or args.junit):
        if args.json:
            _print_json(job.raw)
        return PASSED
    started = time.monotonic()
    try:
        job = client.wait(job.id, timeout_s=args.timeout, on_progress=ProgressPrinter(sys.stderr))
    except WaitTimeout as exc:
        print(f"tuneq: {exc}", file=sys.stderr)
        return TIMED_OUT
    results = [(t, t.check(job.best.metrics if job.best else {})) for t in thresholds]
    if args.junit:
        junit(job, results, args.junit, time.monotonic() - started)
    if args.json:
        _print_json(job.raw)
    else:
        from service.progress import summary

        print(summary(job.raw))
    if job.status != "succeeded":
        print(f"tuneq: job {job.status}" + (f": {job.error}" if job.error else ""), file=sys.stderr)
        return JOB_FAILED
    failed = [problem for _, problem in results if problem is not None]
    verdicts = sys.stderr if args.json else sys.stdout  # --json: stdout holds only the JSON
    for t, problem in results:
        line = f"{'FAIL' if problem else 'ok  '} {t.label}" + (f": {problem}" if problem else "")
        print(line, file=verdicts)
    return THRESHOLD_FAILED if failed else PASSED


def cmd_status(args: argparse.Namespace) -> int:
    job = _client(args).get(args.id)
    if args.json:
        _print_json(job.raw)
    else:
        best = f", best {job.metric} {job.best.value:.4f}" if job.best and job.best.value else ""
        done = f"{job.trials_finished}/{job.trials_total} trials"
        print(f"{job.id} {job.name}: {job.status}, {done}{best}")
    return PASSED if job.status not in ("failed", "cancelled") else JOB_FAILED


def cmd_trials(args: argparse.Namespace) -> int:
    trials = _client(args).trials(args.id)
    if args.json:
        _print_json([t.raw for t in trials])
        return PASSED
    names = sorted({name for t in trials for name in t.params})
    print("  ".join([f"{'#':>4}", f"{'state':<10}", f"{'value':>10}", *names]))
    for t in trials:
        value = f"{t.value:.5g}" if t.value is not None else "-"
        params = [str(t.params.get(n, "")) for n in names]
        print("  ".join([f"{t.number:>4}", f"{t.state:<10}", f"{value:>10}", *params]))
    return PASSED


def cmd_best(args: argparse.Namespace) -> int:
    from service.progress import summary

    job = _client(args).get(args.id)
    if args.json:
        _print_json(job.raw.get("best"))
    else:
        print(summary(job.raw))
    return PASSED if job.best else JOB_FAILED


def cmd_cancel(args: argparse.Namespace) -> int:
    job = _client(args).cancel(args.id)
    print(f"{job.id}: {job.status}")
    return PASSED


def cmd_report(args: argparse.Namespace) -> int:
    from service.reports.plots import PLOTS

    client = _client(args)
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


def cmd_datasets(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.datasets_command == "upload":
        dataset = client.upload_dataset(
            args.file, target=args.target, task=args.task, name=args.name
        )
        if args.json:
            _print_json(dataset.raw)
        else:
            shape = f"{dataset.n_features} features, splits {dataset.splits}"
            print(f"{dataset.id}  {dataset.task}, {shape}")
        return PASSED
    found = client.datasets()
    if args.json:
        _print_json([d.raw for d in found])
        return PASSED
    for d in found:
        print(f"{d.id}  {d.name:<24} {d.task:<14} {d.n_features:>6} features  {d.splits}")
    return PASSED


def run(command: Any, args: argparse.Namespace) -> int:
    """Run a client command, turning every failure into its documented exit code."""
    try:
        return int(command(args))
    except Unauthorized as exc:
        print(
            f"tuneq: not authorized: {exc.message} (check --api-key / TUNEQ_API_KEY)",
            file=sys.stderr,
        )
        return UNREACHABLE
    except ConnectionFailed as exc:
        print(f"tuneq: {exc}", file=sys.stderr)
        return UNREACHABLE
    except ApiError as exc:
        print(f"tuneq: {exc.message}", file=sys.stderr)
        for field, messages in exc.fields.items():
            print(f"  {field}: {' '.join(messages)}", file=sys.stderr)
        return JOB_FAILED
    except (OSError, ValueError) as exc:
        print(f"tuneq: {exc}", file=sys.stderr)
        return JOB_FAILED


def add_commands(sub: Any) -> None:
    """Register the client commands on the ``tuneq`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("TUNEQ_URL", DEFAULT_URL))
    common.add_argument("--api-key", default=os.environ.get("TUNEQ_API_KEY"))
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument(
        "--retries", type=int, default=6, help="retries of a failed request (backing off)"
    )

    submit = sub.add_parser("submit", parents=[common], help="submit a job (and wait, and gate)")
    submit.add_argument("spec", help="job spec, .json or .yaml")
    submit.add_argument("--dataset", help="upload this .npz/.csv and tune on it")
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish")
    submit.add_argument("--timeout", type=duration, default=2 * 3600.0, help="e.g. 90m, 2h")
    submit.add_argument(
        "--fail-under", type=threshold(True), action="append", default=[], metavar="METRIC=VALUE",
        help="exit 1 unless the best's METRIC >= VALUE (e.g. test_accuracy=0.95); implies --wait",
    )  # fmt: skip
    submit.add_argument(
        "--fail-over", type=threshold(False), action="append", default=[], metavar="METRIC=VALUE",
        help="exit 1 unless the best's METRIC <= VALUE (losses, errors); implies --wait",
    )  # fmt: skip
    submit.add_argument("--junit", help="write a JUnit XML report here; implies --wait")
    submit.add_argument("--idempotency-key", help="a retried submit with it returns the same job")
    submit.set_defaults(client_command=cmd_submit)

    for name, func, text in (
        ("status", cmd_status, "a job's status and progress"),
        ("trials", cmd_trials, "a job's trials"),
        ("best", cmd_best, "a job's best configuration, metrics and diagnosis"),
        ("cancel", cmd_cancel, "cancel a job"),
    ):
        command = sub.add_parser(name, parents=[common], help=text)
        command.add_argument("id")
        command.set_defaults(client_command=func)

    report = sub.add_parser("report", parents=[common], help="a finished job's report and plots")
    report.add_argument("id")
    report.add_argument("--out", help="save report.html, report.md and the PNGs in this folder")
    report.add_argument("--format", choices=["html", "markdown"], default="markdown")
    report.set_defaults(client_command=cmd_report)

    datasets = sub.add_parser("datasets", parents=[common], help="upload and list datasets")
    datasets_sub = datasets.add_subparsers(dest="datasets_command", required=True)
    upload = datasets_sub.add_parser("upload", parents=[common], help="upload an .npz or .csv")
    upload.add_argument("file")
    upload.add_argument("--target", help="CSV label column")
    upload.add_argument("--task", choices=["classification", "regression"])
    upload.add_argument("--name")
    datasets_sub.add_parser("list", parents=[common], help="the tenant's datasets")
    datasets.set_defaults(client_command=cmd_datasets)
