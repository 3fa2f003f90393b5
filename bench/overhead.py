"""Overhead of the service against training the same trials in a plain Keras loop.

The same N trials (same configurations, same seeds; digits MLP, early stopping) run four
times:

- stack: a job submitted through the API, kept in a real Redis, scheduled by a control worker
  and trained by a trial worker process (warmed up by an earlier job), as deployed;
- plain Keras: one process builds each trial's model and trains it as a Keras user would,
  ``model.fit(..., validation_data=..., callbacks=[EarlyStopping(...)])`` then
  ``model.evaluate`` on the validation part, after one warm-up fit. The same model, optimizer,
  scaling and split as the engine's, so the objectives must agree;
- plain Keras, frozen heap: that loop with the heap frozen after the warm-up, as the worker
  freezes its own (``worker.engine.heap``), which no ordinary loop does;
- engine, frozen heap: the engine's own ``fit_trial`` in a loop with the heap frozen: against
  it, the stack's extra time is the service's own work alone.

Reported: the stack's wall time for the trials (job created to last trial finished) over the
plain loop's (the ratio the issue sets a goal for) and over the frozen plain loop's; the
engine loop's over both (what the engine saves on training itself: one forward pass for
validation instead of Keras's per-epoch ``evaluate``, several steps per execution, one input
iterator an epoch); the service's own time per trial against the engine loop, split into what
happens between trials (queueing, scheduling, dispatch) and inside them (dataset, model
build, Redis writes per epoch); and the largest difference in objective between the stack
and each loop (0: the same results).

    python bench/overhead.py             # 20 trials
    python bench/overhead.py --smoke     # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import in_fresh_process, save  # noqa: E402
from service.core.spec import load_spec  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402

if TYPE_CHECKING:
    from service.core.settings import Settings

# The API, the store and the dev stack are imported where the stack runs, not at the top: a
# loop's process (``--loop``) would carry them on its heap, which a plain script does not.


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
    from service.app import create_app
    from service.core.store import JobStore, connect
    from service.devstack import settings_env, stop_process, worker_command

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


def plain_trial(job: Any, config: dict[str, Any], dataset: Any, seed: int) -> float:
    """One trial as a Keras user writes it: scale on the fit part, ``model.fit`` with the
    validation part and early stopping (restoring the best weights), ``model.evaluate``."""
    import keras

    from worker.engine.training import compiled_model, preprocessor_for, validation_folds

    x_fit, y_fit, x_val, y_val = validation_folds(job, dataset)[0]
    scaler = preprocessor_for(job, dataset, config).fit(x_fit)
    x_fit, x_val = scaler.transform(x_fit), scaler.transform(x_val)
    model, _ = compiled_model(job, config, dataset, len(x_fit), seed=seed, features=scaler)
    stopping = job.training.early_stopping
    model.fit(
        x_fit,
        y_fit,
        validation_data=(x_val, y_val),
        epochs=job.training.max_epochs,
        batch_size=int(config["batch_size"]),
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor=stopping.monitor,
                patience=stopping.patience,
                restore_best_weights=stopping.restore_best_weights,
            )
        ],
        verbose=0,
    )
    metric = job.training.objective.metric.removeprefix("val_")
    return float(model.evaluate(x_val, y_val, verbose=0, return_dict=True)[metric])


def run_loop(
    body: dict[str, Any],
    trials: list[tuple[int, dict, float | None]],
    *,
    engine: bool,
    frozen: bool,
) -> dict:
    """The trials in a loop in this process: the plain Keras loop, or the engine's
    ``fit_trial`` (``engine``); ``frozen``: with the heap frozen after the warm-up."""
    from worker.engine.dataset_loader import load_builtin
    from worker.engine.training import fit_trial

    job = load_spec(body)
    dataset = load_builtin("digits")
    metric = job.training.objective.metric

    def one(config: dict[str, Any], seed: int) -> float | None:
        if not engine:
            return plain_trial(job, config, dataset, seed)
        return fit_trial(job, config, dataset, seed=seed).metrics.get(metric)

    first = trials[0]
    one(configuration(job.fixed, first[1], job.model.family, job.task), 1)  # warm-up, untimed
    if frozen:
        gc.collect()
        gc.freeze()
    started = time.perf_counter()
    values = []
    for number, params, _ in trials:
        config = configuration(job.fixed, params, job.model.family, job.task)
        values.append(one(config, job.search.seed * 100_003 + number))
    wall = time.perf_counter() - started
    gc.unfreeze()
    diff = max(abs((v or 0.0) - (t[2] or 0.0)) for v, t in zip(values, trials, strict=True))
    return {"wall_s": wall, "max_objective_diff": diff}


def in_own_process(
    body: dict[str, Any], trials: list[tuple[int, dict, float | None]], **how: bool
) -> dict:
    """``run_loop`` in a fresh Python process, as a trial worker is one: a loop run after
    another in this process inherits its graphs and heap, and ran up to 15 % slower."""
    rows = [(number, dict(params), value) for number, params, value in trials]
    return in_fresh_process([__file__, "--loop"], {"body": body, "trials": rows, "how": how})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "overhead.json"))
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop:  # one in-process loop for ``in_own_process``: JSON in, JSON out
        given = json.load(sys.stdin)
        trials = [(int(n), dict(p), v) for n, p, v in given["trials"]]
        print(json.dumps(run_loop(given["body"], trials, **given["how"])))
        return
    if args.smoke:
        args.trials, args.epochs = 3, 2
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-overhead-smoke.json")
    from service.core.settings import Settings
    from service.devstack import free_port, start_redis, stop_process

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
    plain = in_own_process(body, trials, engine=False, frozen=False)
    plain_frozen = in_own_process(body, trials, engine=False, frozen=True)
    engine = in_own_process(body, trials, engine=True, frozen=True)
    n, stack_wall = args.trials, stack["trials_wall_s"]
    between = stack_wall - stack["in_trial_s"]
    inside = stack["in_trial_s"] - engine["wall_s"]
    result = {
        "trials": n,
        "max_epochs": args.epochs,
        "plain_wall_s": round(plain["wall_s"], 3),
        "plain_frozen_heap_wall_s": round(plain_frozen["wall_s"], 3),
        "engine_frozen_heap_wall_s": round(engine["wall_s"], 3),
        "stack_trials_wall_s": round(stack_wall, 3),
        "stack_job_wall_s": round(stack["job_wall_s"], 3),
        "ratio": round(stack_wall / plain["wall_s"], 4),
        "ratio_to_frozen_plain": round(stack_wall / plain_frozen["wall_s"], 4),
        "engine_to_frozen_plain": round(engine["wall_s"] / plain_frozen["wall_s"], 4),
        "plain_ms_per_trial": round(1000 * plain["wall_s"] / n, 1),
        "stack_ms_per_trial": round(1000 * stack_wall / n, 1),
        "service_ms_per_trial": round(1000 * (stack_wall - engine["wall_s"]) / n, 1),
        "between_trials_ms_per_trial": round(1000 * between / n, 1),
        "inside_trials_ms_per_trial": round(1000 * inside / n, 1),
        "max_objective_diff": {
            name: round(run["max_objective_diff"], 6)
            for name, run in (("plain", plain), ("plain_frozen", plain_frozen), ("engine", engine))
        },
    }
    for key, value in result.items():
        print(f"{key:>30}: {value}")
    save(args.out, result)


if __name__ == "__main__":
    main()
