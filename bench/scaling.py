"""Scaling: 64 synthetic 1-second trials on 1, 2, 4 and 8 worker processes.

Each trial sleeps ``--sleep`` seconds (the synthetic model family), so the measurement is the
scheduling and messaging around trials, not training. For each strategy and worker count K, a
job with ``parallelism = K`` runs on K trial workers (plus one control worker); wall time is
compared with the ideal ``trials * sleep / K``. Start-up is excluded: workers are warmed by a
small job before each measurement. The control worker runs two processes, as deployed (compose
and Kubernetes), so a refill of Bayesian suggestions runs beside the advances. Also reported:
the mean time of one ``advance`` (a parallel Bayesian job's takes points made ahead; at
parallelism 1 it rebuilds the optimizer, tells and asks), and how idle the trial workers were
(the share of K x wall in which no trial of the job was running on them).

    python bench/scaling.py                  # the full run (about 8 minutes on 2 cores)
    python bench/scaling.py --smoke          # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import save  # noqa: E402
from service.app import create_app  # noqa: E402
from service.core.settings import Settings  # noqa: E402
from service.core.store import JobStore, connect  # noqa: E402
from service.devstack import (  # noqa: E402
    free_port,
    settings_env,
    start_redis,
    stop_process,
    worker_command,
)


def spec(trials: int, sleep_s: float, strategy: str, parallelism: int) -> dict:
    return {
        "dataset": {"builtin": "digits"},
        "model": {"family": "synthetic", "sleep_s": sleep_s},
        "search_space": {
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
            "units": {"type": "int", "low": 16, "high": 512, "log": True},
            "n_layers": {"type": "int", "low": 1, "high": 4},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", "sigmoid"]},
        },
        "training": {"max_epochs": 5},
        "search": {
            "strategy": strategy,
            "max_trials": trials,
            "parallelism": parallelism,
            "seed": 0,
            "initial_points": min(trials, max(parallelism, 8)),
        },
    }


def run_job(client, store: JobStore, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    while not (job := store.jobs.get(job_id)).status.is_finished:
        time.sleep(0.02)
    wall = time.perf_counter() - started
    assert job.status.value == "succeeded", job.error
    trials = store.trials.list(job_id)
    running = sum((t.finished_at or 0) - (t.started_at or 0) for t in trials)
    assert len({json.dumps(dict(t.params), sort_keys=True) for t in trials}) == len(trials)
    return wall, {
        "advances": job.advances,
        "advance_mean_s": job.advance_seconds / max(job.advances, 1),
        "refills": job.refills,
        "refill_mean_s": job.refill_seconds / max(job.refills, 1),
        "running_s": running,
    }


def measure(
    settings: Settings, workers: int, strategy: str, trials: int, sleep_s: float, logs: Path
) -> dict:
    env = settings_env(settings)
    procs = [
        subprocess.Popen(
            worker_command("control", 2, "WARNING", f"control-{workers}@%h"),
            env=env,
            stdout=(logs / "control.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
    ]
    for k in range(workers):
        procs.append(
            subprocess.Popen(
                worker_command("trials", 1, "WARNING", f"trials-{workers}-{k}@%h"),
                env=env,
                stdout=(logs / f"trials-{k}.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
        )
    client = create_app(settings).test_client()
    store = JobStore(connect(settings.redis_url))
    _, key = store.api_keys.create("bench")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    try:
        run_job(client, store, spec(workers * 2, 0.05, "random", workers))  # warm-up
        wall, stats = run_job(client, store, spec(trials, sleep_s, strategy, workers))
    finally:
        for proc in procs:
            stop_process(proc, timeout_s=10)
    ideal = trials * sleep_s / workers
    running = stats.pop("running_s")
    return {
        "strategy": strategy,
        "workers": workers,
        "trials": trials,
        "sleep_s": sleep_s,
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(wall / ideal, 3),
        "worker_idle": round(1 - running / (workers * wall), 3),
        **{k: round(v, 4) for k, v in stats.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--strategies", default="random,bayesian")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scaling.json"))
    args = parser.parse_args()
    if args.smoke:
        args.workers, args.trials, args.sleep = "2", 4, 0.1
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-scaling-smoke.json")

    port = free_port()
    redis_proc = start_redis(port)
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{port}/0",
        allow_synthetic=True,
        trial_lease_s=30,
        max_trial_time_s=600,
        visibility_timeout_s=3600,
        max_trials_limit=10_000,
    )
    rows = []
    try:
        with tempfile.TemporaryDirectory() as logs:
            for strategy in args.strategies.split(","):
                for workers in (int(w) for w in args.workers.split(",")):
                    row = measure(
                        dataclasses.replace(settings),
                        workers,
                        strategy,
                        args.trials,
                        args.sleep,
                        Path(logs),
                    )
                    rows.append(row)
                    print(
                        f"{strategy:>9} {workers:>2} workers: {row['wall_s']:7.2f} s "
                        f"(ideal {row['ideal_s']:6.2f} s, ratio {row['ratio']:.3f}); "
                        f"advance {1000 * row['advance_mean_s']:.1f} ms mean; "
                        f"{row['refills']} refills of {1000 * row['refill_mean_s']:.0f} ms; "
                        f"workers idle {100 * row['worker_idle']:.1f} %",
                        flush=True,
                    )
    finally:
        stop_process(redis_proc)
    result = {
        "benchmark": "scaling",
        "rows": rows,
    }
    save(args.out, result)


if __name__ == "__main__":
    main()
