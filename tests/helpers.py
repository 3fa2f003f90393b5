"""Helpers for tests that run real worker processes on synthetic trials."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from celery import Celery
from flask.testing import FlaskClient

from service.app import create_app
from service.core.contract import ROUTES, TASK_RUN_TRIAL, celery_config
from service.core.records import JobRecord, TrialState
from service.core.settings import Settings
from service.core.spec import Direction, JobSpec, ObjectiveSpec, load_spec
from service.core.store import JobStore
from service.devstack import settings_env, stop_process, worker_command
from worker.engine.observation import Observation

VALID_SPEC: dict[str, Any] = {
    "name": "iris-small",
    "dataset": {"builtin": "iris"},
    "model": {"family": "mlp"},
    "search_space": {
        "learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "units": {"type": "int", "low": 4, "high": 32, "log": True},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
        "batch_size": {"type": "categorical", "choices": [16, 32]},
    },
    "fixed": {"n_layers": 1},
    "training": {
        "max_epochs": 8,
        "early_stopping": {"monitor": "val_loss", "patience": 3},
        "validation": {"split": 0.2},
        "objective": {"metric": "val_accuracy", "direction": "max"},
    },
    "search": {"strategy": "bayesian", "max_trials": 5, "initial_points": 3, "seed": 7},
}


# An MLP on diabetes that this learning rate and momentum send to NaN within an epoch.
DIVERGING = {
    "optimizer": "sgd",
    "learning_rate": 10.0,
    "momentum": 0.99,
    "units": 512,
    "n_layers": 4,
}


class Workers:
    """Starts named worker processes and stops whatever is left at the end."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        beat: bool = True,
        concurrency: int = 1,
        settings: Settings | None = None,
        queues: str = "control,trials",
    ) -> subprocess.Popen[bytes]:
        """A worker (``--once`` when ``settings.worker_once``) on ``queues``."""
        chosen = settings or self.settings
        log = (self.tmp_path / f"{name}.log").open("ab")
        schedule = self.tmp_path / f"{name}-beat" if beat else None
        proc = subprocess.Popen(
            worker_command(
                queues=queues,
                concurrency=concurrency,
                loglevel="INFO",
                hostname=f"{name}@%h",
                beat_schedule=schedule,
                once=chosen.worker_once,
            ),
            env=settings_env(chosen),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def stop_all(self) -> None:
        for proc in self.procs.values():
            stop_process(proc, timeout_s=5)
        for path in sorted(self.tmp_path.glob("*.log")):
            print(f"---- {path.name} ----\n{path.read_text(errors='replace')[-2500:]}")


def api_client(settings: Settings, tenant: str = "acme") -> FlaskClient:
    """A test client of a fresh app that sends a new key of ``tenant`` on every request."""
    app = create_app(settings)
    _, secret = app.extensions["tuneq.store"].api_keys.create(tenant)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def synthetic_spec(trials: int, sleep_s: float, epochs: int = 10, **model: Any) -> dict:
    return {
        "dataset": {"builtin": "digits"},
        "model": {"family": "synthetic", "sleep_s": sleep_s, **model},
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "units": {"type": "int", "low": 16, "high": 512, "log": True},
        },
        "training": {"max_epochs": epochs},
        "search": {"strategy": "random", "max_trials": trials, "seed": 11},
    }


def wait_ready(store: JobStore, workers: int = 1, timeout_s: float = 60) -> None:
    """Wait until ``workers`` workers beat (they beat once they consume): for a test whose
    job must not lose its first seconds to a worker's start-up."""
    deadline = time.monotonic() + timeout_s
    while store.fleet.workers_alive() < workers:
        assert time.monotonic() < deadline, "no worker became ready"
        time.sleep(0.1)


def wait_job(store: JobStore, job_id: str, timeout_s: float = 120) -> JobRecord:
    deadline = time.monotonic() + timeout_s
    while not (job := store.jobs.get(job_id)).status.is_finished:
        assert time.monotonic() < deadline, f"job stuck: {job.status} {job.trials_finished}"
        time.sleep(0.1)
    return job


def wait_running(
    store: JobStore, job_id: str, number: int, epochs: int = 1, timeout_s: float = 60
) -> None:
    """Wait until trial ``number`` is running and has reported ``epochs`` epochs."""
    deadline = time.monotonic() + timeout_s
    while True:
        trial = store.trials.get(job_id, number)
        if trial is not None and trial.state == TrialState.RUNNING and trial.epochs >= epochs:
            return
        assert time.monotonic() < deadline, f"trial {number} never ran: {trial}"
        time.sleep(0.02)


def send_run_trial(settings: Settings, job_id: str, number: int) -> None:
    """Deliver a run_trial message by hand, as a duplicate or late redelivery would."""
    app = Celery("tuneq-test")
    app.conf.update(celery_config(settings))
    app.send_task(TASK_RUN_TRIAL, args=[job_id, number], **ROUTES[TASK_RUN_TRIAL])


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie awaiting its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class LiveApi:
    """The API served over real HTTP from a thread (werkzeug), stoppable and restartable on
    the same port, with a key of tenant ``acme``."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        from service.devstack import free_port

        self.app = create_app(settings)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        _, self.key = self.app.extensions["tuneq.store"].api_keys.create("acme")
        self.server: Any = None

    def start(self) -> LiveApi:
        import threading

        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def stored_spec(
    max_trials: int = 3, direction: str = "max", max_duration_s: float | None = None
) -> JobSpec:
    """A small typed spec for jobs a test writes to the store directly (its budget, objective
    direction and time limit as given; the store checks none of them)."""
    spec = load_spec(VALID_SPEC)
    metric = "val_accuracy" if direction == "max" else "val_loss"
    training = dataclasses.replace(
        spec.training, objective=ObjectiveSpec(metric, Direction(direction))
    )
    search = dataclasses.replace(spec.search, max_trials=max_trials, max_duration_s=max_duration_s)
    return dataclasses.replace(spec, training=training, search=search)


class RecordingSearch:
    """Stands in for a search that another wraps (BOHB's budgets, ParEGO): records what it was
    told and suggests ``point`` every time."""

    def __init__(self, point: dict[str, Any]) -> None:
        self.point = point
        self.told: list[Observation] = []
        self.prior: list[Observation] = []

    def suggest(
        self,
        finished: Sequence[Observation],
        pending: Sequence[Mapping[str, Any]],
        n: int,
        prior: Sequence[Observation] = (),
    ) -> list[dict[str, Any]]:
        self.told, self.prior = list(finished), list(prior)
        return [dict(self.point) for _ in range(n)]
