"""``tuneq submit`` and ``tuneq watch``: run a job from CI, wait for it, gate the build on it.

Whatever ends the wait (the job, a threshold, the timeout, an unreachable server, SIGINT or
SIGTERM from a cancelled CI run), the JUnit file is written when one was asked for, so the
pipeline's "save the report" step always has a file, and the exit code says which it was. A
threshold on a metric the job will not report is refused before anything is submitted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from service.client import ApiError, Client, ConnectionFailed, Job, Unauthorized, WaitTimeout
from service.core.catalog import BUILTIN_DATASETS, METRICS
from service.core.names import closest
from service.exit_codes import (
    INTERRUPTED,
    JOB_FAILED,
    PASSED,
    THRESHOLD_FAILED,
    TIMED_OUT,
    SpecError,
)
from service.progress import ProgressPrinter, summary


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
    """A job spec from JSON or YAML; a malformed file names its line and column.

    Raises:
        SpecError: the file cannot be read as a spec.
    """
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml  # the client's one dependency, for YAML specs only

        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise SpecError(f"{path}: {where}{problem}") from None
    else:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a job spec is a mapping (JSON object)")
    return spec


def reported_metrics(task: str, spec: dict[str, Any]) -> set[str]:
    """Every metric a finished job of this task reports for its best trial: training,
    validation (with its spread under k-fold) and test."""
    names = set(METRICS.get(task, {}))
    kfold = spec.get("training", {}).get("validation", {}).get("method") == "kfold"
    reported = names | {f"val_{n}" for n in names} | {f"test_{n}" for n in names}
    return reported | ({f"val_{n}_std" for n in names} if kfold else set())


def check_metric_names(thresholds: list[Threshold], task: str | None, spec: dict[str, Any]) -> None:
    """Refuse a threshold on a metric the job will not report, before it runs.

    Raises:
        SpecError: naming the metric and the closest one it will report.
    """
    if task is None or spec.get("search", {}).get("strategy") == "lr_range_test":
        return
    known = reported_metrics(task, spec)
    for t in thresholds:
        if t.metric not in known:
            match = closest(t.metric, known)
            hint = f" Did you mean {match}?" if match else ""
            raise SpecError(
                f"--fail-{'under' if t.at_least else 'over'} {t.metric}: a {task} job reports no "
                f"such metric.{hint} It reports: {', '.join(sorted(known))}."
            )


def _task(client: Client, spec: dict[str, Any], uploaded_task: str | None) -> str | None:
    dataset = spec.get("dataset") or {}
    if uploaded_task:
        return uploaded_task
    if isinstance(dataset, dict) and dataset.get("builtin") in BUILTIN_DATASETS:
        return BUILTIN_DATASETS[dataset["builtin"]].task
    if isinstance(dataset, dict) and isinstance(dataset.get("id"), str):
        return client.dataset(dataset["id"]).task
    return None  # the server will say what is wrong with it


def junit(
    path: str,
    name: str,
    job: Job | None,
    results: list[tuple[Threshold, str | None]],
    seconds: float,
    error: tuple[str, str] | None = None,
) -> None:
    """The JUnit report CI systems display: one case for the job itself (an error when the run
    ended without its result: timed out, unreachable, interrupted) and one per threshold."""
    if error is None and job is not None:
        problem = None if job.status == "succeeded" else f"job {job.status}: {job.error}"
        outcome = ("failure", "job", problem) if problem else None
    else:
        kind, reason = error or ("error", "no result")
        outcome = ("error", kind, reason)
    suite = ET.Element("testsuite", name=f"tuneq.{name}", time=f"{seconds:.1f}")
    properties = ET.SubElement(suite, "properties")
    if job is not None:
        ET.SubElement(properties, "property", name="job_id", value=job.id)
        if job.best is not None:
            for key, value in job.best.configuration.items():
                ET.SubElement(properties, "property", name=f"best.{key}", value=str(value))
            for key, value in sorted(job.best.metrics.items()):
                ET.SubElement(properties, "property", name=f"metric.{key}", value=f"{value:.6g}")
    case = ET.SubElement(suite, "testcase", classname=f"tuneq.{name}", name="job succeeded")
    if outcome is not None:
        tag, kind, message = outcome
        ET.SubElement(case, tag, message=message or "", type=kind).text = message
    for t, problem in results:
        case = ET.SubElement(suite, "testcase", classname=f"tuneq.{name}", name=t.label)
        if error is not None:
            ET.SubElement(case, "skipped", message="not evaluated: the run has no result")
        elif problem is not None:
            ET.SubElement(case, "failure", message=problem, type="threshold").text = problem
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
    suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived (a CI run was cancelled, or Ctrl-C)."""


SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """The first SIGINT or SIGTERM raises ``Interrupted``; later ones are ignored from then on
    (the command is ending), so that the report is written, the job cancelled and the exit code
    given before a CI system's follow-up signal (GitHub Actions sends SIGTERM 7.5 s after
    SIGINT) could end the process. Without an interrupt the old handlers come back."""
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        fired = True
        for sig in SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
    try:
        yield
    finally:
        if not fired:
            for sig, old in previous.items():
                signal.signal(sig, old)


class _Run:
    """One ``submit``, ``extend`` or ``watch``: what the JUnit report needs, whatever ends it."""

    def __init__(self, args: argparse.Namespace, name: str, thresholds: list[Threshold]) -> None:
        self.args, self.name, self.thresholds = args, name, thresholds
        self.started = time.monotonic()
        self.job: Job | None = None

    def report(self, kind: str, reason: str) -> None:
        if self.args.junit:
            elapsed = time.monotonic() - self.started
            unchecked = [(t, None) for t in self.thresholds]
            junit(self.args.junit, self.name, self.job, unchecked, elapsed, (kind, reason))

    def stopped(self, kind: str, reason: str, code: int) -> int:
        print(f"tuneq: {reason}", file=sys.stderr)
        self.report(kind, reason)
        return code

    def refused(self, exc: Exception) -> None:
        """A request refused, or never answered: the report says so; ``run`` prints it."""
        if isinstance(exc, Unauthorized):
            self.report("unauthorized", str(exc))
        elif isinstance(exc, ConnectionFailed) or _server_error(exc):
            self.report("unreachable", str(exc))
        else:
            self.report("refused", str(exc))

    def interrupted(self, client: Client, exc: Interrupted, cancel: bool) -> int:
        """Report first (the process may not get long), then cancel the job with one quick
        try, then say what happened."""
        reason = f"interrupted by {exc}"
        if self.job is None:
            return self.stopped("interrupted", f"{reason} before a job was submitted", INTERRUPTED)
        if not cancel:
            reason += f"; job {self.job.id} goes on"
            return self.stopped("interrupted", reason, INTERRUPTED)
        self.report("interrupted", f"{reason}; cancelling job {self.job.id}")
        try:
            quick = Client(client.base_url, api_key=client.api_key, timeout_s=5, retries=0)
            status = quick.cancel(self.job.id, refit=False).status  # no model for a cancelled run
            outcome = f"job {self.job.id} {status}"
        except (ApiError, ConnectionFailed) as failed:
            outcome = f"job {self.job.id} not cancelled: {failed}"
        return self.stopped("interrupted", f"{reason}; {outcome}", INTERRUPTED)


def _server_error(exc: Exception) -> bool:
    return isinstance(exc, ApiError) and exc.status >= 500


def cmd_submit(args: argparse.Namespace, client: Client) -> int:
    thresholds = [*args.fail_under, *args.fail_over]
    run = _Run(args, Path(args.spec).stem, thresholds)
    with interruptible():
        try:
            spec = load_spec_file(args.spec)
            run.name = str(spec.get("name") or run.name)
            uploaded_task = None
            if args.dataset:
                uploaded = client.upload_dataset(args.dataset)
                spec["dataset"] = {"id": uploaded.id}
                uploaded_task = uploaded.task
                print(f"Uploaded {args.dataset}: dataset {uploaded.id}", file=sys.stderr)
            check_metric_names(thresholds, _task(client, spec, uploaded_task), spec)
            run.job = client.submit(spec, idempotency_key=args.idempotency_key)
            print(f"Submitted job {run.job.id} ({run.job.name})", file=sys.stderr)
            return _follow(run, client)
        except Interrupted as exc:
            return run.interrupted(client, exc, cancel=not args.detach_on_interrupt)
        except (ApiError, ConnectionFailed, SpecError, OSError) as exc:
            run.refused(exc)
            raise


def cmd_watch(args: argparse.Namespace, client: Client) -> int:
    """Follow a job to its end; an interrupt stops watching, never the job."""
    run = _Run(args, args.id, [])
    with interruptible():
        try:
            run.job = client.get(args.id)
            run.name = run.job.name
            return _wait_and_gate(run, client)
        except Interrupted as exc:
            return run.interrupted(client, exc, cancel=False)
        except (ApiError, ConnectionFailed) as exc:
            run.refused(exc)
            raise


def cmd_extend(args: argparse.Namespace, client: Client) -> int:
    """Give a finished job more trials; with ``--wait`` or a threshold, follow it and gate on
    its best as ``submit`` does. An interrupt stops watching, never the job."""
    thresholds = [*args.fail_under, *args.fail_over]
    run = _Run(args, args.id, thresholds)
    with interruptible():
        try:
            spec = client.get(args.id).raw["spec"]
            check_metric_names(thresholds, _task(client, spec, None), spec)
            run.job = client.extend(args.id, args.trials, max_duration_s=args.max_duration)
            run.name = run.job.name
            total = run.job.raw["progress"]["trials_total"]
            print(f"Extended job {run.job.id} ({run.name}) to {total} trials", file=sys.stderr)
            return _follow(run, client)
        except Interrupted as exc:
            return run.interrupted(client, exc, cancel=False)
        except (ApiError, ConnectionFailed, SpecError) as exc:
            run.refused(exc)
            raise


def _follow(run: _Run, client: Client) -> int:
    """After a submit or an extend: wait and gate when asked to (a threshold or a JUnit
    report implies waiting), else print the job and return."""
    args = run.args
    if args.wait or run.thresholds or args.junit:
        return _wait_and_gate(run, client)
    if args.json:
        print(json.dumps(run.job.raw if run.job else None, indent=2, default=str))
    return PASSED


def _wait_and_gate(run: _Run, client: Client) -> int:
    args, thresholds = run.args, run.thresholds
    assert run.job is not None
    try:
        job = run.job = client.wait(
            run.job.id, timeout_s=args.timeout, on_progress=ProgressPrinter(sys.stderr)
        )
    except WaitTimeout as exc:
        return run.stopped("timeout", str(exc), TIMED_OUT)
    results = [(t, t.check(job.best.metrics if job.best else {})) for t in thresholds]
    if args.junit:
        junit(args.junit, run.name, job, results, time.monotonic() - run.started)
    if args.json:
        print(json.dumps(job.raw, indent=2, default=str))
    else:
        print(summary(job.raw, [t.metric for t in thresholds]))
    if job.status != "succeeded":
        print(f"tuneq: job {job.status}" + (f": {job.error}" if job.error else ""), file=sys.stderr)
        return JOB_FAILED
    verdicts = sys.stderr if args.json else sys.stdout  # --json: stdout holds only the JSON
    for t, problem in results:
        line = f"{'FAIL' if problem else 'ok  '} {t.label}" + (f": {problem}" if problem else "")
        print(line, file=verdicts)
    return THRESHOLD_FAILED if any(problem for _, problem in results) else PASSED
