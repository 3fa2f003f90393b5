"""Search efficiency: the best validation accuracy each method reaches after 5, 10 and 25 trials.

Digits cannot rank methods (every method ends within two validation images of the others), so
the ranking task is **small digits**: 300 training images (stratified, seeded), scored on 500
other training images as the validation part; the test split is never touched. Every method
trains the same MLP space with the same engine (``worker.engine.training.fit_trial``, early
stopping, the same seeds per trial number), in process, so the comparison is the search alone:

- tuneq bayesian (GP, gp_hedge, log(1 - accuracy) transform, 8 initial points)
- tuneq random
- Optuna TPE, when ``optuna`` is installed (``pip install -e '.[bench]'``)
- KerasTuner's BayesianOptimization oracle (its defaults), when ``keras-tuner`` is installed

Reported per method: mean and spread (min-max over seeds) of the best so far after 5, 10 and 25
trials, the training seconds, and the wall seconds (the difference is the method's own cost).

    python bench/efficiency.py               # 3 seeds x 25 trials per method
    python bench/efficiency.py --smoke       # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from bench.machine import describe  # noqa: E402
from service.core.spec import Dimension, JobSpec, ValidationSpec, load_spec  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402
from worker.engine.datasets import Dataset, load_builtin  # noqa: E402
from worker.engine.optimizer import Observation, make_suggester  # noqa: E402
from worker.engine.training import fit_trial  # noqa: E402

SPACE = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "n_layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 16, "high": 256, "log": True},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "sigmoid", "elu"]},
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd", "rmsprop", "adagrad"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "l2": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 32, 64, 128]},
}
CHECKPOINTS = (5, 10, 25)


def small_digits(train: int, val: int) -> Dataset:
    full = load_builtin("digits")
    x, x_val, y, y_val = train_test_split(
        full.x_train, full.y_train, train_size=train, test_size=val, random_state=7,
        stratify=full.y_train,
    )  # fmt: skip
    return dataclasses.replace(full, x_train=x, y_train=y, x_val=x_val, y_val=y_val)


def job_spec(strategy: str, seed: int, trials: int, epochs: int) -> JobSpec:
    spec = load_spec(
        {
            "dataset": {"builtin": "digits"},
            "search_space": SPACE,
            "training": {"max_epochs": epochs, "early_stopping": {"patience": 5}},
            "search": {"strategy": strategy, "max_trials": trials, "seed": seed,
                       "initial_points": min(8, trials)},
        }
    )  # fmt: skip
    return dataclasses.replace(
        spec, training=dataclasses.replace(spec.training, validation=ValidationSpec("dataset"))
    )


def run_tuneq(strategy: str, seed: int, trials: int, epochs: int, data: Dataset) -> dict:
    spec = job_spec(strategy, seed, trials, epochs)
    suggester = make_suggester(spec)
    done: list[Observation] = []

    def ask() -> dict[str, Any]:
        return suggester.suggest(done, [], 1)[0]

    def tell(params: dict[str, Any], value: float | None) -> None:
        done.append(Observation(params, value))

    return _loop(spec, trials, data, ask, tell)


def run_optuna(seed: int, trials: int, epochs: int, data: Dataset) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = job_spec("random", seed, trials, epochs)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    distributions = {name: _optuna(dim) for name, dim in spec.search_space.items()}
    current: list[Any] = []

    def ask() -> dict[str, Any]:
        trial = study.ask(distributions)
        current.append(trial)
        return dict(trial.params)

    def tell(params: dict[str, Any], value: float | None) -> None:
        study.tell(current.pop(), value if value is not None else 0.0)

    return _loop(spec, trials, data, ask, tell)


def run_kerastuner(seed: int, trials: int, epochs: int, data: Dataset) -> dict:
    """KerasTuner's BayesianOptimization oracle with its defaults, driven by ask/tell so the
    training is the same as every other method's."""
    import contextlib
    import io
    import tempfile

    import keras_tuner as kt

    spec = job_spec("random", seed, trials, epochs)
    hp = kt.HyperParameters()
    for name, dim in spec.search_space.items():
        sampling = "log" if dim.log else "linear"
        if dim.type == "categorical":
            hp.Choice(name, list(dim.choices or ()))
        elif dim.type == "int":
            hp.Int(name, int(dim.low or 0), int(dim.high or 0), sampling=sampling)
        else:
            hp.Float(name, float(dim.low or 0), float(dim.high or 0), sampling=sampling)
    oracle = kt.oracles.BayesianOptimizationOracle(
        objective=kt.Objective("val_accuracy", "max"),
        max_trials=trials,
        seed=seed,
        hyperparameters=hp,
    )
    folder = tempfile.mkdtemp(prefix="tuneq-kt-")
    oracle._set_project_dir(folder, "efficiency")
    current: list[Any] = []
    quiet = io.StringIO()  # the oracle prints a table per trial

    def ask() -> dict[str, Any]:
        with contextlib.redirect_stdout(quiet):
            trial = oracle.create_trial("bench")
        current.append(trial)
        return dict(trial.hyperparameters.values)

    def tell(params: dict[str, Any], value: float | None) -> None:
        trial = current.pop()
        with contextlib.redirect_stdout(quiet):
            oracle.update_trial(trial.trial_id, {"val_accuracy": value or 0.0})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)

    return _loop(spec, trials, data, ask, tell)


def _optuna(dim: Dimension) -> Any:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if dim.type == "categorical":
        return CategoricalDistribution(list(dim.choices or ()))
    if dim.type == "int":
        return IntDistribution(int(dim.low or 0), int(dim.high or 0), log=dim.log)
    return FloatDistribution(float(dim.low or 0), float(dim.high or 0), log=dim.log)


def _loop(
    spec: JobSpec,
    trials: int,
    data: Dataset,
    ask: Callable[[], dict[str, Any]],
    tell: Callable[[dict[str, Any], float | None], None],
) -> dict:
    best, curve, fit_s = -math.inf, [], 0.0
    start = time.perf_counter()
    for number in range(trials):
        params = ask()
        config = configuration(spec.fixed, params)
        began = time.perf_counter()
        result = fit_trial(spec, config, data, seed=spec.search.seed * 100_003 + number)
        fit_s += time.perf_counter() - began
        value = None if result.diverged else result.metrics["val_accuracy"]
        tell(params, value)
        best = max(best, value if value is not None else -math.inf)
        curve.append(best)
    return {"curve": curve, "fit_s": fit_s, "wall_s": time.perf_counter() - start}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--only", nargs="*", help="run only these methods, keeping the others' saved results"
    )
    args = parser.parse_args()
    seeds, trials, epochs = (1, 3, 2) if args.smoke else (args.seeds, args.trials, args.epochs)
    data = small_digits(300, 500)
    methods: dict[str, Callable[[int], dict]] = {
        "tuneq bayesian": lambda s: run_tuneq("bayesian", s, trials, epochs, data),
        "tuneq random": lambda s: run_tuneq("random", s, trials, epochs, data),
    }
    try:
        import optuna  # noqa: F401

        methods["optuna TPE"] = lambda s: run_optuna(s, trials, epochs, data)
    except ImportError:
        print("optuna not installed: pip install -e '.[bench]' to compare with it")
    try:
        import keras_tuner  # noqa: F401

        methods["KerasTuner BO"] = lambda s: run_kerastuner(s, trials, epochs, data)
    except ImportError:
        print("keras-tuner not installed: pip install -e '.[bench]' to compare with it")
    if args.only:
        methods = {name: run for name, run in methods.items() if name in args.only}
    results: dict[str, list[dict]] = {}
    for name, run in methods.items():
        for seed in range(seeds):
            results.setdefault(name, []).append(run(seed))
            print(f"  {name}, seed {seed}: best {results[name][-1]['curve'][-1]:.4f}", flush=True)
    checkpoints = [c for c in CHECKPOINTS if c <= trials] or [trials]
    print(f"best validation accuracy, small digits, {seeds} seeds (mean [min-max])")
    print(
        f"{'method':<16}" + "".join(f"{'@' + str(c):>22}" for c in checkpoints) + "   fit s  wall s"
    )
    table = {}
    for name, runs in results.items():
        row = {}
        for c in checkpoints:
            values = [r["curve"][c - 1] for r in runs]
            row[str(c)] = {"mean": float(np.mean(values)), "min": min(values), "max": max(values)}
        table[name] = {
            "best_after": row,
            "fit_s": sum(r["fit_s"] for r in runs),
            "wall_s": sum(r["wall_s"] for r in runs),
            "curves": [r["curve"] for r in runs],
        }
        cells = "".join(
            f"{row[str(c)]['mean']:>10.4f} [{row[str(c)]['min']:.3f}-{row[str(c)]['max']:.3f}]"
            for c in checkpoints
        )
        print(f"{name:<16}{cells} {table[name]['fit_s']:7.1f} {table[name]['wall_s']:7.1f}")
    if not args.smoke:
        out = ROOT / "bench" / "results" / "efficiency.json"
        if args.only and out.exists():  # keep the methods not run this time
            table = {**json.loads(out.read_text())["methods"], **table}
        out.write_text(
            json.dumps(
                {
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": describe(),
                    "task": "digits, 300 training / 500 validation images",
                    "seeds": seeds,
                    "trials": trials,
                    "epochs": epochs,
                    "methods": table,
                },
                indent=2,
            )
        )
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
