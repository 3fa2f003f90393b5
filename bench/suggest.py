"""Suggestion latency: the time of one Bayesian step (rebuild from the finished trials, tell, ask)
for n = 10, 50, 100 and 200 finished trials, batches of 1 and 8, per surrogate.

The space is the 8-dimensional MLP space of bench/efficiency.py; the finished trials have a
smooth synthetic objective with noise (what the surrogate sees does not change its cost). Each
cell is the median of a few repetitions, measured through ``BayesianSearch.suggest``, the call
a control worker makes in ``advance``, so it includes everything the service pays. Stock
scikit-optimize with its defaults (``skopt.Optimizer(base_estimator="GP")``, 10,000 candidate
points, 5 L-BFGS restarts) is measured beside it as the reference.

    python bench/suggest.py            # full table (a few minutes on 2 cores)
    python bench/suggest.py --smoke    # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.efficiency import SPACE  # noqa: E402
from bench.machine import save  # noqa: E402
from service.core.spec import Dimension  # noqa: E402
from worker.engine.optimizer import BayesianSearch, Observation  # noqa: E402
from worker.engine.space import sample_point  # noqa: E402

DIMENSIONS = {
    name: Dimension(**{k: tuple(v) if k == "choices" else v for k, v in dim.items()})
    for name, dim in SPACE.items()
}


def observations(n: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    found = []
    for i in range(n):
        params = sample_point(DIMENSIONS, seed, i)
        lr = math.log10(params["learning_rate"])
        value = 0.9 - 0.05 * (lr + 2.5) ** 2 - 0.1 * params["dropout"] + rng.normal(0, 0.01)
        found.append(Observation(params=params, value=float(min(0.999, value))))
    return found


def tuneq_step(surrogate: str, finished: list[Observation], batch: int) -> float:
    search = BayesianSearch(
        DIMENSIONS,
        seed=1,
        n_initial=8,
        surrogate=surrogate,
        acquisition="gp_hedge",
        metric="val_accuracy",
        direction="max",
    )
    started = time.perf_counter()
    search.suggest(finished, [], batch)
    return time.perf_counter() - started


def stock_step(finished: list[Observation], batch: int) -> float:
    """scikit-optimize as its README shows it: Optimizer(GP), tell everything, ask."""
    import skopt

    search = BayesianSearch(
        DIMENSIONS, seed=1, n_initial=8, surrogate="GP", acquisition="gp_hedge",
        metric="val_accuracy", direction="max",
    )  # fmt: skip
    started = time.perf_counter()
    optimizer = skopt.Optimizer(
        [search._skopt_dimension(name) for name in search.names],
        base_estimator="GP",
        n_initial_points=0,
        random_state=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer.tell([search._vector(o.params) for o in finished], [-o.value for o in finished])
        optimizer.ask(n_points=batch, strategy="cl_min") if batch > 1 else optimizer.ask()
    return time.perf_counter() - started


def synthetic_value(params: dict[str, Any], rng: np.random.Generator) -> float:
    lr = math.log10(params["learning_rate"])
    value = 0.9 - 0.05 * (lr + 2.5) ** 2 - 0.1 * params["dropout"] + rng.normal(0, 0.01)
    value -= 0.03 * (params["activation"] != "relu") + 0.02 * abs(math.log2(params["units"]) - 6)
    return float(min(0.999, value))


def long_search(trials: int, seed: int, quick: bool) -> tuple[list[float], float]:
    """A sequential GP search of ``trials`` steps on the synthetic objective; the best so far
    after each step, and the seconds spent suggesting."""
    from worker.engine import optimizer

    saved = optimizer.LARGE_HISTORY
    optimizer.LARGE_HISTORY = saved if quick else 10**9
    rng = np.random.default_rng(seed)
    search = BayesianSearch(
        DIMENSIONS, seed=seed, n_initial=8, surrogate="GP", acquisition="gp_hedge",
        metric="val_accuracy", direction="max",
    )  # fmt: skip
    done: list[Observation] = []
    best: list[float] = []
    spent = 0.0
    try:
        while len(done) < trials:
            started = time.perf_counter()
            (params,) = search.suggest(done, [], 1)
            spent += time.perf_counter() - started
            done.append(Observation(params=params, value=synthetic_value(params, rng)))
            best.append(max(o.value for o in done))  # type: ignore[type-var]
    finally:
        optimizer.LARGE_HISTORY = saved
    return best, spent


def quality(trials: int, seeds: int) -> list[dict[str, Any]]:
    """The quick path against scikit-optimize's defaults all the way, same seeds."""
    rows = []
    checkpoints = [c for c in (50, 75, 100, 150, 200) if c <= trials]
    print(f"{'GP search':<22}" + "".join(f"{f'@{c}':>9}" for c in checkpoints) + "  suggest s")
    for quick in (True, False):
        runs = [long_search(trials, seed, quick) for seed in range(seeds)]
        means = {c: statistics.mean(best[c - 1] for best, _ in runs) for c in checkpoints}
        spent = statistics.mean(s for _, s in runs)
        label = "tuneq (quick > 50)" if quick else "skopt defaults always"
        print(
            f"{label:<22}" + "".join(f"{means[c]:>9.4f}" for c in checkpoints) + f"{spent:>10.1f}"
        )
        rows.append({"method": label, "best": means, "suggest_seconds": spent})
    return rows


def median_time(step: Any, repeats: int) -> float:
    return statistics.median(step() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "suggest.json"))
    args = parser.parse_args()
    sizes = (10, 20) if args.smoke else (10, 50, 100, 200)
    batches = (1, 2) if args.smoke else (1, 8)
    surrogates = ("GP", "RF") if args.smoke else ("GP", "RF", "ET", "GBRT")
    repeats = 1 if args.smoke else 2
    rows = []
    print(f"{'method':<14}{'batch':>6}" + "".join(f"{f'n={n}':>10}" for n in sizes))
    methods = [(f"tuneq {s}", lambda f, b, s=s: tuneq_step(s, f, b)) for s in surrogates]
    methods.append(("skopt stock GP", stock_step))
    for label, step in methods:
        for batch in batches:
            cells = {}
            for n in sizes:
                finished = observations(n)
                cells[n] = median_time(lambda f=finished, b=batch, s=step: s(f, b), repeats)
            rows.append({"method": label, "batch": batch, "seconds": cells})
            print(f"{label:<14}{batch:>6}" + "".join(f"{cells[n]:>9.3f}s" for n in sizes))
    quality_rows = quality(*((12, 1) if args.smoke else (120, 2)))  # the quick path: unit-tested
    result = {
        "quality": quality_rows,
        "sizes": sizes,
        "rows": rows,
    }
    out = Path("/tmp/tuneq-suggest-smoke.json") if args.smoke else Path(args.out)
    save(out, result)


if __name__ == "__main__":
    main()
