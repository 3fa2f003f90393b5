"""Search efficiency: the best validation accuracy each method reaches after 5, 10 and 25 trials.

Digits cannot rank methods (every method ends within two validation images of the others), so
the ranking task is **small digits**: 300 training images (stratified, seeded), scored on 500
other training images as the validation part; the test split is never touched. Every method
trains the same MLP space with the same engine (``worker.engine.training.fit_trial``, early
stopping, the same seeds per trial number), in process, so the comparison is the search alone:

- tuneq bayesian with its defaults (GP, gp_hedge, log(1 - accuracy) transform, a fifth of the
  budget as initial points, the middle of the space and then random ones: 5 of 25)
- tuneq random
- Optuna TPE, when ``optuna`` is installed (``pip install -e '.[bench]'``)
- KerasTuner's BayesianOptimization oracle (its defaults), when ``keras-tuner`` is installed
- the methods that stop trials early, each with three times the trials (a stopped trial costs
  a fraction of one): tuneq bayesian with ASHA (rungs at 5 and 15 epochs, the top third goes
  on), tuneq hyperband and tuneq BOHB (their defaults: brackets judging from epoch 1, the top
  third goes on). They stop trials with the engine's own pruner (``worker.engine.pruning``)
  from the epoch hook, against the trials before, as a job with one trial at a time would;
  their best so far counts the trials that were not stopped, as the service's best does

Reported per method: mean and spread (min-max over seeds) of the best so far after 5, 10 and 25
trials and within a quarter, half and all of the least training time any run took (best
against cumulative training time, also drawn in ``bench/results/efficiency.png``), the
training seconds, and the wall seconds (the difference is the method's own cost).

``--task digits`` runs the same on digits itself (the service's 20 % hold-out for validation),
10 trials per seed by default: there the question is not the ranking but whether a short search
reaches the accuracy digits allows (results in ``efficiency_digits.json`` and ``.png``).

    python bench/efficiency.py                   # small digits: 3 seeds x 25 trials per method
    python bench/efficiency.py --task digits     # digits: 3 seeds x 10 trials per method
    python bench/efficiency.py --smoke           # seconds: keeps the script working in CI
    python bench/efficiency.py --only "tuneq hyperband"   # one method, keeping the others'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from bench.machine import save  # noqa: E402
from service.core.spec import Dimension, JobSpec, ValidationSpec, load_spec  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402
from worker.engine.dataset_loader import Dataset, holdout_split, load_builtin  # noqa: E402
from worker.engine.optimizer import Observation, make_suggester  # noqa: E402
from worker.engine.pruning import pruner_for  # noqa: E402
from worker.engine.results import EpochHook  # noqa: E402
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


# The methods that stop trials early: the strategy, and what else their ``search`` says.
STAGED: dict[str, tuple[str, dict[str, Any]]] = {
    "tuneq bayesian+ASHA": (
        "bayesian", {"pruning": {"rule": "asha", "min_epochs": 5, "reduction_factor": 3}}
    ),
    "tuneq hyperband": ("hyperband", {}),
    "tuneq BOHB": ("bohb", {}),
}  # fmt: skip
STAGED_TRIALS = 3  # times the others' trials


def job_spec(strategy: str, seed: int, trials: int, epochs: int, **search: Any) -> JobSpec:
    spec = load_spec(
        {
            "dataset": {"builtin": "digits"},
            "search_space": SPACE,
            "training": {"max_epochs": epochs, "early_stopping": {"patience": 5}},
            "search": {"strategy": strategy, "max_trials": trials, "seed": seed, **search},
        }
    )  # fmt: skip
    return dataclasses.replace(
        spec, training=dataclasses.replace(spec.training, validation=ValidationSpec("dataset"))
    )


def run_tuneq(
    strategy: str, seed: int, trials: int, epochs: int, data: Dataset, **search: Any
) -> dict:
    spec = job_spec(strategy, seed, trials, epochs, **search)
    suggester = make_suggester(spec)
    done: list[Observation] = []

    def ask() -> dict[str, Any]:
        return suggester.suggest(done, [], 1)[0]

    def tell(params: dict[str, Any], value: float | None, curve: list[float], full: bool) -> None:
        done.append(Observation(params, value, curve=tuple(curve), complete=full))

    return _loop(spec, trials, data, ask, tell)


def pruning_hook(
    spec: JobSpec, number: int, curves: dict[int, list[float]], stopped: set[int]
) -> EpochHook | None:
    """Trial ``number``'s epoch hook: stop it (and add it to ``stopped``) when the job's rule
    says so, against the curves of the trials before it that it is compared with (None:
    nothing stops it)."""
    pruner = pruner_for(spec, number)
    if pruner is None:
        return None
    peers = [curve for n, curve in curves.items() if pruner.peer(n)]

    def hook(epoch: int, history: dict[str, list[float]]) -> bool:
        if pruner.should_prune(epoch, history.get("val_accuracy", []), peers):
            stopped.add(number)
            return False
        return True

    return hook


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

    def tell(params: dict[str, Any], value: float | None, curve: list[float], full: bool) -> None:
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

    def tell(params: dict[str, Any], value: float | None, curve: list[float], full: bool) -> None:
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
    tell: Callable[[dict[str, Any], float | None, list[float], bool], None],
) -> dict:
    best, curve, elapsed, fit_s = -math.inf, [], [], 0.0
    curves: dict[int, list[float]] = {}
    stopped: set[int] = set()
    start = time.perf_counter()
    for number in range(trials):
        params = ask()
        config = configuration(spec.fixed, params)
        hook = pruning_hook(spec, number, curves, stopped)
        began = time.perf_counter()
        seed = spec.search.seed * 100_003 + number
        result = fit_trial(spec, config, data, seed=seed, on_epoch=hook)
        fit_s += time.perf_counter() - began
        curves[number] = list(result.history.get("val_accuracy", []))
        value = None if result.diverged else result.metrics["val_accuracy"]
        tell(params, value, curves[number], number not in stopped)
        if number not in stopped:  # a stopped trial's value is partial, not a model's
            best = max(best, value if value is not None else -math.inf)
        curve.append(best)
        elapsed.append(fit_s)
    return {
        "curve": curve,
        "epochs": sum(len(c) for c in curves.values()),
        "fit_elapsed_s": elapsed,
        "fit_s": fit_s,
        "wall_s": time.perf_counter() - start,
    }


def best_within(run: dict, seconds: float) -> float:
    """The best a run had found once it had trained for ``seconds`` (its first trial's result
    if that alone took longer: every method gets one)."""
    reached = [b for b, t in zip(run["curve"], run["fit_elapsed_s"], strict=True) if t <= seconds]
    return reached[-1] if reached else run["curve"][0]


def time_budgets(results: dict[str, list[dict]], fractions: tuple[float, ...]) -> list[float]:
    """Training-time budgets every method reached in every seed: fractions of the least total
    training time among the runs."""
    least = min(run["fit_s"] for runs in results.values() for run in runs)
    return [round(f * least, 1) for f in fractions]


def plot_against_time(results: dict[str, list[dict]], title: str, out: Path) -> None:
    """Best so far against cumulative training time: each seed thin, their mean bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for (name, runs), color in zip(
        results.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False
    ):
        start, end = max(r["fit_elapsed_s"][0] for r in runs), max(r["fit_s"] for r in runs)
        grid = np.linspace(start, end, 200)  # from when every seed has a result
        for run in runs:
            ax.step(
                run["fit_elapsed_s"], run["curve"], where="post", color=color, alpha=0.25, lw=0.8
            )
        mean = [np.mean([best_within(run, t) for run in runs]) for t in grid]
        ax.plot(grid, mean, color=color, lw=2, label=name)
    ax.set_xlabel("cumulative training time (s)")
    ax.set_ylabel("best validation accuracy so far")
    # from a little below the worst best-after-a-fifth-of-the-trials: the early misses
    # (a diverged first trial scores 0.1) would flatten everything that matters
    low = min(run["curve"][len(run["curve"]) // 5] for runs in results.values() for run in runs)
    high = max(run["curve"][-1] for runs in results.values() for run in runs)
    ax.set_ylim(max(0.0, low - 0.02), min(1.0, high + 0.005))
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.savefig(out, dpi=110)
    plt.close(fig)


TASKS = {
    "small-digits": "digits, 300 training / 500 validation images",
    "digits": "digits, the training part split 80 / 20 into training and validation",
}
TIME_FRACTIONS = (0.25, 0.5, 1.0)


def task_data(task: str) -> Dataset:
    if task == "small-digits":
        return small_digits(300, 500)
    full = load_builtin("digits")  # the service's default hold-out: 20 %, stratified
    x, y, x_val, y_val = holdout_split(full.x_train, full.y_train, 0.2, 0, full.task)
    return dataclasses.replace(full, x_train=x, y_train=y, x_val=x_val, y_val=y_val)


def summarize(results: dict[str, list[dict]], checkpoints: list[int]) -> dict[str, Any]:
    """Per method: the best after each trial count and within each training-time budget (mean
    and range over seeds), the training and wall seconds, and the runs themselves."""
    budgets = time_budgets(results, TIME_FRACTIONS)
    table: dict[str, Any] = {}
    for name, runs in results.items():
        after = [[r["curve"][c - 1] for r in runs] for c in checkpoints]
        within = [[best_within(r, b) for r in runs] for b in budgets]
        table[name] = {
            "best_after": {str(c): _spread(v) for c, v in zip(checkpoints, after, strict=True)},
            "best_within_s": {str(b): _spread(v) for b, v in zip(budgets, within, strict=True)},
            "trials": len(runs[0]["curve"]),
            "epochs": float(np.mean([r.get("epochs", 0) for r in runs])),
            "fit_s": sum(r["fit_s"] for r in runs),
            "wall_s": sum(r["wall_s"] for r in runs),
            "runs": runs,
        }
    return table


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "min": min(values), "max": max(values)}


def _row(cells: dict[str, dict[str, float]]) -> str:
    return "".join(f"{v['mean']:>10.4f} [{v['min']:.4f}-{v['max']:.4f}]" for v in cells.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--task", choices=sorted(TASKS), default="small-digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, help="default: 25 on small digits, 10 on digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--only", nargs="*", help="run only these methods, keeping the others' saved results"
    )
    args = parser.parse_args()
    trials = args.trials or (25 if args.task == "small-digits" else 10)
    seeds, trials, epochs = (1, 3, 3) if args.smoke else (args.seeds, trials, args.epochs)
    data = task_data(args.task)
    methods: dict[str, Callable[[int], dict]] = {
        "tuneq bayesian": lambda s: run_tuneq("bayesian", s, trials, epochs, data),
        "tuneq random": lambda s: run_tuneq("random", s, trials, epochs, data),
    }
    for name, (strategy, search) in STAGED.items():
        more = trials * (1 if args.smoke else STAGED_TRIALS)
        methods[name] = lambda s, st=strategy, se=search, n=more: run_tuneq(
            st, s, n, epochs, data, **se
        )
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
    suffix = "" if args.task == "small-digits" else "_" + args.task
    out = Path(tempfile.gettempdir()) if args.smoke else ROOT / "bench" / "results"
    saved = out / f"efficiency{suffix}.json"
    results: dict[str, list[dict]] = {}
    if args.only and saved.exists():  # keep the methods not run this time
        for name, entry in json.loads(saved.read_text())["methods"].items():
            if name not in methods and "runs" in entry:
                results[name] = entry["runs"]
    for name, run in methods.items():
        results[name] = []
        for seed in range(seeds):
            results[name].append(run(seed))
            print(f"  {name}, seed {seed}: best {results[name][-1]['curve'][-1]:.4f}", flush=True)
    checkpoints = [c for c in CHECKPOINTS if c <= trials] or [trials]
    table = summarize(results, checkpoints)
    print(f"best validation accuracy, {TASKS[args.task]}, {seeds} seeds (mean [min-max])")
    print(f"{'after trials':<22}" + "".join(f"{'@' + str(c):>26}" for c in checkpoints))
    for name, entry in table.items():
        print(f"{name:<22}{_row(entry['best_after'])}  fit {entry['fit_s']:.1f} s"
              f"  wall {entry['wall_s']:.1f} s")  # fmt: skip
    budgets = next(iter(table.values()))["best_within_s"]
    print(f"{'within fit s':<22}" + "".join(f"{b + ' s':>26}" for b in budgets))
    for name, entry in table.items():
        print(f"{name:<22}{_row(entry['best_within_s'])}")
    save(
        saved,
        {
            "task": TASKS[args.task],
            "seeds": seeds,
            "trials": trials,
            "epochs": epochs,
            "methods": table,
        },
    )
    plot = saved.with_suffix(".png")
    plain = {name: runs for name, runs in results.items() if name not in STAGED}
    plot_against_time(plain, f"{args.task}: best against cumulative training time", plot)
    staged = {n: r for n, r in results.items() if n in STAGED or n == "tuneq bayesian"}
    if len(staged) > 1:
        title = f"{args.task}: stopping trials early, best against training time"
        plot_against_time(staged, title, saved.with_name(saved.stem + "_staged.png"))
    print(f"wrote {plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
