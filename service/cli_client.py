"""The client half of the ``tuneq`` command line: submit, watch, gate on and manage jobs from a
terminal or another project's CI. Standard library only (YAML specs need PyYAML), so a CI image
installs it without the server's dependencies.

Every command finds the server at ``--url``, else ``TUNEQ_URL``, else http://127.0.0.1:8000,
and sends the key in ``--api-key``, else ``TUNEQ_API_KEY``. Exit codes: ``service.exit_codes``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from service import cli_gate, cli_show
from service.client import ApiError, Client, ConnectionFailed, Unauthorized
from service.core.wire import JOB_STATUSES
from service.exit_codes import JOB_FAILED, TABLE, UNREACHABLE

DEFAULT_URL = "http://127.0.0.1:8000"
WHERE = f"""the server: --url, else $TUNEQ_URL, else {DEFAULT_URL}
the API key: --api-key, else $TUNEQ_API_KEY

{TABLE}"""

Command = Callable[[argparse.Namespace, Client], int]


def _column_kind(text: str) -> tuple[str, str]:
    name, sep, kind = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=KIND, e.g. zip=categorical")
    return name, kind


def run(command: Command, args: argparse.Namespace) -> int:
    """Run a client command, turning every failure into its documented exit code."""
    try:
        return int(command(args, Client(args.url, api_key=args.api_key, retries=args.retries)))
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
        return UNREACHABLE if exc.status >= 500 else JOB_FAILED  # 5xx: the service is away
    except (OSError, ValueError) as exc:
        print(f"tuneq: {exc}", file=sys.stderr)
        return JOB_FAILED


def _parser(
    sub: Any, name: str, text: str, func: Command, *parents: argparse.ArgumentParser
) -> Any:
    command = sub.add_parser(
        name,
        parents=list(parents),
        help=text,
        description=text[0].upper() + text[1:] + ".",
        epilog=WHERE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.set_defaults(client_command=func)
    return command


def add_commands(sub: Any) -> None:
    """Register the client commands on the ``tuneq`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("TUNEQ_URL", DEFAULT_URL))
    common.add_argument("--api-key", default=os.environ.get("TUNEQ_API_KEY"))
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    common.add_argument(
        "--retries", type=int, default=6, help="retries of a failed request (backing off)"
    )
    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument("--timeout", type=cli_gate.duration, default=2 * 3600.0, help="e.g. 90m")
    waiting.add_argument("--junit", help="write a JUnit XML report here (always, whatever ends it)")

    submit = _parser(
        sub, "submit", "submit a job (and wait, and gate the build)", cli_gate.cmd_submit,
        common, waiting,
    )  # fmt: skip
    submit.add_argument("spec", help="job spec, .json or .yaml")
    submit.add_argument(
        "--detach-on-interrupt",
        action="store_true",
        help="on SIGINT/SIGTERM leave the job running (by default it is cancelled)",
    )
    submit.add_argument("--dataset", help="upload this .npz/.csv and tune on it")
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish")
    submit.add_argument(
        "--fail-under", type=cli_gate.threshold(True), action="append", default=[],
        metavar="METRIC=VALUE",
        help="exit 1 unless the best's METRIC >= VALUE (e.g. test_accuracy=0.95); implies --wait",
    )  # fmt: skip
    submit.add_argument(
        "--fail-over", type=cli_gate.threshold(False), action="append", default=[],
        metavar="METRIC=VALUE",
        help="exit 1 unless the best's METRIC <= VALUE (losses, errors); implies --wait",
    )  # fmt: skip
    submit.add_argument("--idempotency-key", help="a retried submit with it returns the same job")

    watch = _parser(
        sub, "watch", "follow a job's progress until it ends", cli_gate.cmd_watch, common, waiting
    )
    watch.add_argument("id")

    extend = _parser(
        sub, "extend", "give a finished job more trials (and wait, and gate the build)",
        cli_gate.cmd_extend, common, waiting,
    )  # fmt: skip
    extend.add_argument("id")
    extend.add_argument("--trials", type=int, required=True, help="trials to add")
    extend.add_argument(
        "--max-duration", type=cli_gate.duration, metavar="DURATION",
        help="how long the extension may run, e.g. 30m (default: the job's own limit again)",
    )  # fmt: skip
    extend.add_argument("--wait", action="store_true", help="wait for the job to finish")
    for flag, at_least in (("--fail-under", True), ("--fail-over", False)):
        extend.add_argument(
            flag, type=cli_gate.threshold(at_least), action="append", default=[],
            metavar="METRIC=VALUE", help="as for submit; implies --wait",
        )  # fmt: skip

    jobs = _parser(sub, "jobs", "the tenant's jobs, newest first", cli_show.cmd_jobs, common)
    jobs.add_argument("--status", choices=list(JOB_STATUSES))
    jobs.add_argument("--name")
    jobs.add_argument("--limit", type=int, default=50)

    for name, func, text in (
        ("status", cli_show.cmd_status, "a job's status and progress"),
        ("trials", cli_show.cmd_trials, "a job's trials, as a table"),
        ("best", cli_show.cmd_best, "a job's best configuration, metrics and diagnosis"),
        ("delete", cli_show.cmd_delete, "delete a finished job with its trials and model"),
    ):
        _parser(sub, name, text, func, common).add_argument("id")

    cancel = _parser(
        sub, "cancel", "stop a job and ship its best so far", cli_show.cmd_cancel, common
    )
    cancel.add_argument("id")
    cancel.add_argument(
        "--no-refit",
        dest="refit",
        action="store_false",
        help="stop at once: no refit of the best trial, no model",
    )

    model = _parser(
        sub,
        "model",
        "download a job's model (.keras), or import a Keras model's architecture",
        cli_show.cmd_model,
        common,
    )
    model.add_argument("id", help="a job id, or 'import' followed by a file")
    model.add_argument("file", nargs="?", help="import: a .keras file or a to_json() .json file")
    model.add_argument("-o", "--output", help="where to save it (default: <name>-<id>.keras)")

    report = _parser(sub, "report", "a job's report and plots", cli_show.cmd_report, common)
    report.add_argument("id")
    report.add_argument("--out", help="save report.html, report.md and the PNGs in this folder")
    report.add_argument("--format", choices=["html", "markdown"], default="markdown")

    datasets = _parser(sub, "datasets", "upload and list datasets", cli_show.cmd_datasets, common)
    datasets_sub = datasets.add_subparsers(dest="datasets_command", required=True)
    upload = datasets_sub.add_parser("upload", parents=[common], help="upload an .npz or .csv")
    upload.add_argument("file")
    upload.add_argument("--target", help="CSV label column")
    upload.add_argument("--task", choices=["classification", "regression"])
    upload.add_argument("--name")
    upload.add_argument(
        "--column",
        action="append",
        type=_column_kind,
        metavar="NAME=KIND",
        help="a CSV column's kind instead of the inferred one (numeric, categorical, boolean, "
        "text, ignore); repeatable",
    )
    datasets_sub.add_parser("list", parents=[common], help="the tenant's datasets")
