r"""Search methods ranked on many cheap problems, with enough seeds to tell them apart.

The Keras tasks of ``bench/efficiency.py`` cannot rank searches: every method sits within one
or two of 500 validation images. Here each evaluation takes milliseconds to a second
(``bench/search_problems.py``: scikit-learn models by cross-validation, synthetic functions,
a conditional space), so 20 seeds a method are affordable. Each method is driven through the
optimizer interface the service uses (``worker.engine.optimizer``: the I/O-free ``suggest``
given the finished and running trials), at the same budgets, sequentially and with 4 trials
running at once (as 4 workers: each finished trial is told and one new point asked for, the
other 3 pending).

The score is bayesmark's normalised regret: (best found - optimum) / (random search's mean
best at that budget - optimum), the optimum being the known minimum or the best any run
found. 0 is the optimum, 1 is random search; lower is better. Reported: the mean and its
standard error over seeds per problem, per family and overall, and each method's paired
difference from tuneq's default with its standard error (significant beyond 2).

Methods: ``tuneq`` (the default Bayesian search, as a job gets it), ``tuneq-random``,
``tuneq-random-design`` (on request: the default with the initial design it had before it
started at the middle of the space, all random points), and the other libraries' searches
that are installed (``bench/search_peers.py``): Optuna's TPE and GP sampler in every run,
SMAC3 and HEBO when ``--methods`` names them (a suggestion costs them seconds).

    python bench/search_suite.py                          # 20 seeds, budgets 25 and 50
    python bench/search_suite.py --seeds 10 --budgets 50 --running-only   # 4 at once only
    python bench/search_suite.py --seeds 5 --problems branin knn-wine --budgets 25
    python bench/search_suite.py --seeds 10 --budgets 25 --sequential-only \
        --methods tuneq optuna-tpe optuna-gp smac hebo --out bench/results/search_suite_peers.json
    python bench/search_suite.py --smoke                  # seconds: keeps it working in CI

Each finished run is appended to a log beside the JSON (``*.runs.jsonl``) as it arrives: a
stopped run goes on with ``--resume``, or ``--summarise-only`` reports the seeds it completed.
"""

from __future__ import annotations

import os

for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")  # one process per core does the parallel part

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cores, save  # noqa: E402
from bench.search_peers import ON_REQUEST, RUNNERS, SEQUENTIAL_ONLY, ask_tell, available  # noqa: E402
from bench.search_problems import Problem, problems  # noqa: E402

DEFAULT = "tuneq"
TUNEQ_METHODS = (DEFAULT, "tuneq-random", "tuneq-random-design")
RUNNING = 4
"""Trials running at once in the parallel variant."""


def tuneq_suggester(problem: Problem, method: str, seed: int, budget: int) -> Any:
    """The service's suggester for this method, with a job's defaults for the rest."""
    from service.core.spec.types import SearchSpec
    from worker.engine.optimizer import BayesianSearch, RandomSearch

    if method == "tuneq-random":
        return RandomSearch(problem.space, seed)
    defaults = SearchSpec(max_trials=budget, seed=seed)
    design = defaults.initial_point_generator.value
    return BayesianSearch(
        problem.space, seed=seed, n_initial=defaults.n_initial_points,
        surrogate=defaults.surrogate.value, acquisition=defaults.acquisition.value,
        metric="objective", direction="min",
        generator="random" if method == "tuneq-random-design" else design,
    )  # fmt: skip


def run_tuneq(problem: Problem, method: str, seed: int, budget: int, running: int) -> list:
    """The objective of each trial in the order the trials finished, through the same loop of
    trials as every peer's; a suggestion is given the trials still running, as a job's is."""
    from worker.engine.optimizer import Observation

    suggester = tuneq_suggester(problem, method, seed, budget)
    finished: list[Observation] = []
    pending: list[dict[str, Any]] = []

    def ask() -> tuple[Any, dict]:
        point = suggester.suggest(finished, pending, 1)[0]
        pending.append({k: v for k, v in point.items() if problem.active(k, point)})
        return pending[-1], pending[-1]

    def tell(point: dict[str, Any], value: float) -> None:
        pending.remove(point)  # the oldest: the loop finishes trials in the order asked
        finished.append(Observation(point, value))

    return ask_tell(ask, tell, problem, budget, running)


def one_run(task: tuple[str, str, int, int, int]) -> tuple[tuple[str, str, int, int, int], list]:
    name, method, seed, budget, running = task
    problem = problems()[name]
    run = RUNNERS.get(method, run_tuneq)
    return task, run(problem, method, seed, budget, running)


def logged_runs(log: Path, tasks: list[tuple], run: bool = True) -> dict[tuple, list]:
    """Each task's objectives. Every finished run is appended to ``log`` (one JSON line) as it
    arrives, and a task found there already is not run again, so that a run of hours that is
    stopped keeps what it did: ``--resume`` goes on, ``--summarise-only`` reports the seeds
    complete so far (tasks go seed by seed, so those are whole seeds over every problem)."""
    done: dict[tuple, list] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            task, values = json.loads(line)
            done[tuple(task)] = values
    todo = [task for task in tasks if task not in done]
    if run and todo:
        with ProcessPoolExecutor(max_workers=cores()) as pool, log.open("a") as out:
            for future in as_completed([pool.submit(one_run, task) for task in todo]):
                task, values = future.result()
                out.write(json.dumps([task, values]) + "\n")
                out.flush()
                done[task] = values
    return {task: done[task] for task in tasks if task in done}


def whole_seeds(results: Mapping[tuple, list], tasks: list[tuple]) -> dict[tuple, list]:
    """The runs of the seeds whose every task has run: a seed cut short would weigh the
    problems it reached more than the others."""
    missing = {task[2] for task in tasks if task not in results}
    return {task: values for task, values in results.items() if task[2] not in missing}


def regrets(results: Mapping[tuple, list], optima: Mapping[str, float]) -> dict[tuple, float]:
    """Each run's normalised regret: 0 the optimum, 1 random search's mean best."""
    best = {task: min(values) for task, values in results.items()}
    out = {}
    for (name, method, seed, budget, running), value in best.items():
        randoms = [v for (n, m, _, b, r), v in best.items()
                   if (n, m, b, r) == (name, "tuneq-random", budget, running)]  # fmt: skip
        clip = statistics.mean(randoms) - optima[name]
        out[name, method, seed, budget, running] = (value - optima[name]) / clip if clip else 0.0
    return out


def summarise(scores: Mapping[tuple, float], methods: list[str], names: list[str]) -> dict:
    """Per setting (budget, running): each method's mean regret with its standard error per
    problem, per family and overall, and its paired difference from the default."""
    suite = problems()
    settings = sorted({(budget, running) for (_, _, _, budget, running) in scores})
    seeds = sorted({seed for (_, _, seed, _, _) in scores})
    out: dict[str, Any] = {}
    for budget, running in settings:

        def per_seed(method: str, chosen: list[str], at: tuple = (budget, running)) -> list:
            """The method's mean regret over ``chosen`` problems, one per seed."""
            return [statistics.mean(scores[n, method, s, *at] for n in chosen) for s in seeds]

        families = sorted({suite[n].family for n in names})
        table: dict[str, Any] = {}
        ran = {method for (_, method, _, b, r) in scores if (b, r) == (budget, running)}
        for method in [m for m in methods if m in ran]:  # HEBO runs one at a time only
            groups = {n: [n] for n in names}
            groups |= {f"family:{f}": [n for n in names if suite[n].family == f] for f in families}
            groups["overall"] = names
            row = {group: _mean_se(per_seed(method, chosen)) for group, chosen in groups.items()}
            if method != DEFAULT:
                paired = [a - b for a, b in zip(per_seed(method, names),
                                                per_seed(DEFAULT, names), strict=True)]  # fmt: skip
                row["difference_from_default"] = _mean_se(paired)
            table[method] = row
        out[f"budget {budget}, {'sequential' if running == 1 else f'{running} running'}"] = table
    return out


def _mean_se(values: list[float]) -> dict[str, float]:
    mean = statistics.mean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return {"mean": round(mean, 4), "se": round(se, 4)}


def plot(summary: Mapping[str, Any], path: Path) -> None:
    """Overall mean regret with its standard error per method, one panel per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summary), figsize=(4.6 * len(summary), 3.8), squeeze=False)
    for axis, (setting, table) in zip(axes[0], summary.items(), strict=True):
        methods = list(table)
        means = [table[m]["overall"]["mean"] for m in methods]
        errors = [table[m]["overall"]["se"] for m in methods]
        axis.barh(methods, means, xerr=errors, color="#4c72b0", capsize=3)
        axis.axvline(1.0, color="#999", linestyle="--", linewidth=1)
        axis.set_title(setting, fontsize=10)
        axis.set_xlabel("normalised regret (1 = random search)")
        axis.invert_yaxis()
    fig.suptitle("Search suite: mean over problems and seeds, lower is better", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", type=int, nargs="+", default=[25, 50])
    parser.add_argument("--problems", nargs="+", default=list(problems()))
    parser.add_argument("--methods", nargs="+", choices=[*TUNEQ_METHODS, *RUNNERS])
    parser.add_argument("--sequential-only", action="store_true")
    parser.add_argument("--running-only", action="store_true", help=f"only {RUNNING} at once")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--resume", action="store_true", help="keep the runs in the log")
    parser.add_argument("--summarise-only", action="store_true",
                        help="run nothing: summarise the seeds complete in the log")  # fmt: skip
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "search_suite.json"))
    args = parser.parse_args()
    methods = args.methods or [DEFAULT, "tuneq-random"]
    if not args.methods:
        methods += [method for method in available() if method not in ON_REQUEST]
    if args.smoke:
        args.seeds, args.budgets, args.problems = 2, [8], ["branin", "layered", "knn-wine"]
        methods = [DEFAULT, "tuneq-random"]
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-search-suite-smoke.json")
    if "tuneq-random" not in methods:
        methods.append("tuneq-random")  # the normalisation's reference
    runnings = [1] if args.sequential_only else [RUNNING] if args.running_only else [1, RUNNING]
    tasks = [
        (name, method, seed, budget, running)
        for seed in range(args.seeds) for name in args.problems for method in methods
        for budget in args.budgets for running in runnings
        if running == 1 or method not in SEQUENTIAL_ONLY
    ]  # fmt: skip
    log = Path(args.out).with_suffix(".runs.jsonl")
    if not (args.resume or args.summarise_only):
        log.unlink(missing_ok=True)
    results = logged_runs(log, tasks, run=not args.summarise_only)
    if args.summarise_only:
        results = whole_seeds(results, tasks)
        seeds = sorted({task[2] for task in results})
        args.seeds = len(seeds)
        print(f"summarising the {len(seeds)} seeds complete in {log}: {seeds}")
        if not seeds:
            raise SystemExit("no seed has every run in the log yet")
    suite = problems()
    optima = {}
    for name in args.problems:
        seen = min(min(v) for (n, *_), v in results.items() if n == name)
        known = suite[name].optimum
        optima[name] = seen if known is None else min(known, seen)
    summary = summarise(regrets(results, optima), methods, args.problems)
    for setting, table in summary.items():
        print(f"\n{setting}: mean normalised regret (+/- standard error over seeds)")
        for method, row in table.items():
            overall = row["overall"]
            line = f"  {method:>13}: overall {overall['mean']:.3f} +/- {overall['se']:.3f}"
            if "difference_from_default" in row:
                diff = row["difference_from_default"]
                line += f"   vs {DEFAULT}: {diff['mean']:+.3f} +/- {diff['se']:.3f}"
            print(line)
    picture = Path(args.out).with_suffix(".png")
    plot(summary, picture)
    print(f"wrote {picture}")
    save(args.out, {
        "seeds": args.seeds, "budgets": args.budgets, "problems": args.problems,
        "methods": methods, "optima": optima, "summary": summary,
    })  # fmt: skip


if __name__ == "__main__":
    main()
