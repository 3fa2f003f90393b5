"""Overhead of the service against training the same trials in a plain loop.

The same N trials (same configurations, same seeds; digits MLP, early stopping) run three
times:

- stack: a job submitted through the API, kept in a real Redis, scheduled by a control worker
  and trained by a trial worker process (warmed up by an earlier job), as deployed;
- plain: one process calls the engine's ``fit_trial`` for each trial in turn (Keras
  ``model.fit`` with the trial's callbacks), after one warm-up fit;
- plain, frozen heap: the same loop with the heap frozen after the warm-up, as the worker
  freezes its own (``worker.engine.heap``). No ordinary loop does that, and it saves the
  worker the full garbage collections of ``clear_session``; against this run the stack's
  extra time is the service's own work alone.

Reported: the stack's wall time for the trials (job created to last trial finished) over each
plain loop's; the overhead per trial in milliseconds against the plain loop, and the service's
own per trial against the frozen one, split into what happens between trials (queueing,
scheduling, dispatch) and inside them (dataset, model build, Redis writes per epoch); and the
largest difference in objective between runs of a trial (0: same results).

    python bench/overhead.py             # 20 trials
    python bench/overhead.py --smoke     # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import save  # noqa: E402
from service.app import create_app  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.core.spec import load_spec  # noqa: E402
from service.core.store import JobStore, connect  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402
from service.devstack import (  # noqa: E402
    free_port,
    settings_env,
    start_redis,
    stop_process,
    worker_command,
)


def spec(trials: int, epochs: int) -> dict[str, Any]:
    return {
        "name": "overhead",
        "dataset": {"builtin": "digits"},
        "model": {"family": "mlp"},
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "units": {"type": "int", "low": 32, "high": 128, "log": True},
            "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
            "batch_size": {"type": "categorical", "choices": [32, 64]},
        },
        "fixed": {"n_layers": 1, "optimizer": "adam"},
        "training": {
            "max_epochs": epochs,
            "early_stopping": {"monitor": "val_loss", "patience": 3},
            "validation": {"split": 0.2},
        },
        "search": {"strategy": "random", "max_trials": trials, "seed": 5, "parallelism": 1},
    }


def run_stack(body: dict[str, Any], settings: Settings, logs: Path) -> dict[str, Any]:
    env = settings_env(settings)
    procs = [
        subprocess.Popen(
            worker_command(queue, 1, "WARNING", f"{queue}@%h"),
            env=env,
            stdout=(logs / f"{queue}.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        for queue in ("control", "trials")
    ]
    client = create_app(settings).test_client()
    store = JobStore(connect(settings.redis_url))
    _, key = store.api_keys.create("bench")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"

    def job(payload: dict[str, Any]) -> str:
        response = client.post("/v1/jobs", json=payload)
        assert response.status_code == 202, response.get_json()
        job_id = response.get_json()["id"]
        while not (record := store.jobs.get(job_id)).status.is_finished:
            time.sleep(0.02)
        assert record.status.value == "succeeded", record.error
        return job_id

    try:
        job({**body, "search": {**body["search"], "max_trials": 2, "seed": 99}})  # warm-up
        job_id = job(body)
    finally:
        for proc in procs:
            stop_process(proc, timeout_s=10)
    record = store.jobs.get(job_id)
    trials = store.trials.list(job_id)
    last = max(t.finished_at or 0.0 for t in trials)
    return {
        "job_id": job_id,
        "trials_wall_s": last - (record.created_at or last),
        "job_wall_s": (record.finished_at or last) - (record.created_at or last),
        "in_trial_s": sum((t.finished_at or 0.0) - (t.started_at or 0.0) for t in trials),
        "trials": [(t.number, t.params, t.value) for t in trials],
    }


def run_plain(
    body: dict[str, Any], trials: list[tuple[int, dict, float | None]], *, frozen: bool
) -> dict:
    """The trials in a loop in this process; ``frozen``: with the heap frozen as the worker
    freezes its own (``worker.engine.heap``), which no ordinary loop does."""
    from worker.engine.dataset_loader import load_builtin
    from worker.engine.training import fit_trial

    job = load_spec(body)
    dataset = load_builtin("digits")
    first = trials[0]
    warm = configuration(job.fixed, first[1], job.model.family, job.task)
    fit_trial(job, warm, dataset, seed=1)  # warm-up, untimed
    if frozen:
        gc.collect()
        gc.freeze()
    started = time.perf_counter()
    values = []
    for number, params, _ in trials:
        config = configuration(job.fixed, params, job.model.family, job.task)
        result = fit_trial(job, config, dataset, seed=job.search.seed * 100_003 + number)
        values.append(result.metrics.get(job.training.objective.metric))
    wall = time.perf_counter() - started
    gc.unfreeze()
    diff = max(abs((v or 0.0) - (t[2] or 0.0)) for v, t in zip(values, trials, strict=True))
    return {"plain_wall_s": wall, "max_objective_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "overhead.json"))
    args = parser.parse_args()
    if args.smoke:
        args.trials, args.epochs = 3, 2
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-overhead-smoke.json")
    port = free_port()
    redis_proc = start_redis(port)
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0")
    body = spec(args.trials, args.epochs)
    try:
        with tempfile.TemporaryDirectory() as logs:
            stack = run_stack(body, settings, Path(logs))
    finally:
        stop_process(redis_proc)
    trials = sorted(stack.pop("trials"))
    plain = run_plain(body, trials, frozen=False)
    frozen = run_plain(body, trials, frozen=True)
    n = args.trials
    between = stack["trials_wall_s"] - stack["in_trial_s"]
    inside = stack["in_trial_s"] - frozen["plain_wall_s"]
    result = {
        "trials": n,
        "max_epochs": args.epochs,
        "plain_wall_s": round(plain["plain_wall_s"], 3),
        "plain_frozen_heap_wall_s": round(frozen["plain_wall_s"], 3),
        "stack_trials_wall_s": round(stack["trials_wall_s"], 3),
        "stack_job_wall_s": round(stack["job_wall_s"], 3),
        "ratio": round(stack["trials_wall_s"] / plain["plain_wall_s"], 4),
        "overhead_ms_per_trial": round(
            1000 * (stack["trials_wall_s"] - plain["plain_wall_s"]) / n, 1
        ),
        "ratio_to_frozen_plain": round(stack["trials_wall_s"] / frozen["plain_wall_s"], 4),
        "service_ms_per_trial": round(
            1000 * (stack["trials_wall_s"] - frozen["plain_wall_s"]) / n, 1
        ),
        "between_trials_ms_per_trial": round(1000 * between / n, 1),
        "inside_trials_ms_per_trial": round(1000 * inside / n, 1),
        "max_objective_diff": round(
            max(plain["max_objective_diff"], frozen["max_objective_diff"]), 6
        ),
    }
    for key, value in result.items():
        print(f"{key:>30}: {value}")
    save(args.out, result)


if __name__ == "__main__":
    main()
