"""The ``tuneq`` command line: run the stack locally, or one of its parts."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.cli_client import add_commands as add_client_commands

if TYPE_CHECKING:  # the server's settings: its commands import them, the client's never do
    from service.core.settings import Settings

DEMO_SPEC = "digits-demo.json"


def demo_spec() -> dict[str, Any]:
    return json.loads(resources.files("service.specs").joinpath(DEMO_SPEC).read_text())


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    from service.devstack import dev_stack

    _raise_on_sigterm()
    if not args.auth:  # one developer's machine: no keys to hand out (the API logs a warning)
        settings = dataclasses.replace(settings, auth_disabled=True)
    try:
        with dev_stack(settings, args.host, args.port, worker_loglevel="INFO") as (used, url):
            print(
                f"tuneq dev: API on {url}, dashboard {url}/ui  (Redis {used.redis_url}); "
                "Ctrl-C stops everything",
                flush=True,
            )
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        print("tuneq dev: stopped", file=sys.stderr)
    return 0


def _log_to(path: Path) -> None:
    """This process's log lines go to ``path`` instead of the terminal."""
    root = logging.getLogger()
    handler = logging.FileHandler(path)
    for old in list(root.handlers):
        handler.setFormatter(old.formatter)
        root.removeHandler(old)
    root.addHandler(handler)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """The stack of ``tuneq dev`` (tenant ``default``, no keys: the job stays visible to the
    commands printed at the end once ``tuneq dev`` runs), a digits job, its progress and result.
    What the worker prints goes to a log file unless ``--verbose``."""
    import dataclasses

    from service.client import Client
    from service.devstack import data_dir, dev_stack, free_port
    from service.progress import ProgressPrinter, summary

    _raise_on_sigterm()
    spec = json.loads(Path(args.spec).read_text()) if args.spec else demo_spec()
    if args.trials:
        search = spec.setdefault("search", {})
        search["max_trials"] = args.trials
        if "initial_points" in search:
            search["initial_points"] = min(search["initial_points"], args.trials)
    port = args.port if _port_free(args.host, args.port) else free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("tuneq.dev").setLevel(logging.INFO if args.verbose else logging.WARNING)
    settings = dataclasses.replace(settings, auth_disabled=True)
    log_path = None if args.verbose else data_dir() / "demo.log"
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("")
        _log_to(log_path)  # the API's own lines (its "authentication is OFF" warning) too
    try:
        with dev_stack(settings, args.host, port, "INFO", log_path) as (used, url):
            print(f"tuneq demo: API on {url}, Redis {used.redis_url}", flush=True)
            if log_path is not None:
                print(f"Worker log: {log_path} (or run with --verbose)", flush=True)
            client = Client(url)
            job = client.submit(spec)
            search = spec.get("search", {})
            print(
                f"Submitted job {job.id} ({spec.get('name', 'unnamed')}): "
                f"{search.get('max_trials', 20)} trials, {search.get('strategy', 'bayesian')} "
                f"search. Watch it live: {url}/ui#/jobs/{job.id}",
                flush=True,
            )
            final = client.wait(job.id, timeout_s=args.timeout, on_progress=ProgressPrinter())
            print(summary(final.raw))
            print(
                f"\nLook at it again: run `tuneq dev` (it serves this job, on the same Redis) "
                f"and open /ui#/jobs/{job.id}, or `tuneq report {job.id} --out report/`."
            )
            return 0 if final.status == "succeeded" else 1
    except KeyboardInterrupt:
        print("tuneq demo: interrupted", file=sys.stderr)
        return 130


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    """Create, list and revoke API keys (run it where ``TUNEQ_REDIS_URL`` reaches the store)."""
    from service.core.apikeys import InvalidTenant
    from service.core.store import JobStore

    store = JobStore.from_url(settings.redis_url).api_keys
    if args.keys_command == "create":
        try:
            record, secret = store.create(args.tenant, name=args.name)
        except InvalidTenant as exc:
            print(f"tuneq keys: {exc}", file=sys.stderr)
            return 2
        print(f"Created key {record.id} for tenant {record.tenant}. It is shown only once:")
        print(secret)
        return 0
    if args.keys_command == "list":
        rows = store.list(args.tenant)
        print(f"{'ID':<14}{'TENANT':<24}{'CREATED (UTC)':<22}NAME")
        for key in rows:
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(key.created_at))
            print(f"{key.id:<14}{key.tenant:<24}{created:<22}{key.name}")
        return 0
    if store.revoke(args.id):
        print(f"Revoked key {args.id}; it is refused from now on.")
        return 0
    print(f"tuneq keys: no key with id {args.id!r}", file=sys.stderr)
    return 1


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    """gunicorn with threaded workers; its processes share request metrics through a directory
    (``PROMETHEUS_MULTIPROC_DIR``, a fresh one unless set)."""
    import tempfile

    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tuneq-metrics-"))
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:service.gunicorn_conf",
        "--bind",
        args.bind,
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "service.app:create_app()",
    ]
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from service.devstack import worker_command

    if args.gpu is not None:  # one trial worker per GPU: pin it, and let memory grow as needed
        os.environ["CUDA_VISIBLE_DEVICES"] = args.gpu
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    schedule = Path(args.beat_schedule) if args.beat else None
    if args.once:  # read by the worker's settings: exit after one task
        os.environ["TUNEQ_WORKER_ONCE"] = "true"
    argv = worker_command(
        args.queues, args.concurrency, args.loglevel, args.hostname, schedule, once=args.once
    )
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from service.devstack import beat_command

    os.execv(sys.executable, beat_command(Path(args.schedule), args.loglevel))
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuneq", description="Hyperparameter tuning service")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="run Redis (reused or embedded), a worker and the API")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument(
        "--auth", action="store_true", help="require API keys (off by default on a laptop)"
    )
    dev.set_defaults(run=cmd_dev)

    demo = sub.add_parser("demo", help="start the stack and tune a digits MLP end to end")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--trials", type=int, default=None, help="override the trial budget")
    demo.add_argument("--spec", default=None, help="a job spec (JSON) to run instead of the demo")
    demo.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait")
    demo.add_argument(
        "-v", "--verbose", action="store_true", help="show the worker's output here, not in a log"
    )
    demo.set_defaults(run=cmd_demo)

    add_client_commands(sub)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="a new key for a tenant (printed once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="", help="what the key is for, shown by list")
    listing = keys_sub.add_parser("list", help="key ids, tenants and names (never the keys)")
    listing.add_argument("--tenant", default=None)
    revoke = keys_sub.add_parser("revoke", help="stop a key from working, by its id")
    revoke.add_argument("id")
    keys.set_defaults(run=cmd_keys)

    api = sub.add_parser("api", help="serve the API with gunicorn")
    api.add_argument("--bind", default="0.0.0.0:8000")
    api.add_argument("--workers", type=int, default=2, help="processes")
    api.add_argument(
        "--threads", type=int, default=8, help="threads per process (long polls hold one)"
    )
    api.set_defaults(run=cmd_api)

    worker = sub.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--queues", default="control,trials")
    worker.add_argument("--concurrency", type=int, default=1)
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--hostname", default=None)
    worker.add_argument(
        "--gpu", default=None, help="GPU index for this worker (sets CUDA_VISIBLE_DEVICES)"
    )
    worker.add_argument(
        "--beat", action="store_true", help="also run the periodic sweep (in exactly one worker)"
    )
    worker.add_argument("--beat-schedule", default="/tmp/tuneq-beat-schedule")
    worker.add_argument(
        "--once",
        action="store_true",
        help="take one task, run it to the end (SIGTERM included), record it and exit: for "
        "autoscaled trial workers, one per trial (a Kubernetes Job)",
    )
    worker.set_defaults(run=cmd_worker)

    beat = sub.add_parser("beat", help="run the beat that sends the periodic sweep (run one)")
    beat.add_argument(
        "--schedule", default="/tmp/tuneq-beat-schedule", help="file where the beat keeps its state"
    )
    beat.add_argument("--loglevel", default="INFO")
    beat.set_defaults(run=cmd_beat)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "client_command"):  # talks to a server: needs no server settings
        from service.cli_client import run

        return run(args.client_command, args)
    from service.core.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"tuneq: {exc}", file=sys.stderr)
        return 2
    from service.core.logs import configure

    configure(settings.log_format)
    return int(args.run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
