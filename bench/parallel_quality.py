"""Search quality of parallel Bayesian search: suggestions made ahead against made on demand.

A parallel Bayesian job takes its surrogate points from a refill made ahead of need
(``worker.engine.lookahead``); before, ``advance`` fitted the surrogate when a trial finished, with
every result so far. This replays both on the same problems, seeds and trial durations, as an
event simulation of ``--parallelism`` workers (trial k lasts a seeded random 1-3 time units), in
the regime where the refill keeps up (trials much longer than a fit), so each point made ahead
missed exactly the result that freed its slot:

- **on demand**: when a trial finishes, ``suggest(finished, running, 1)``, as ``advance`` did;
- **ahead**: when a trial finishes, the first point of the batch made after the previous
  dispatch (it saw every result but the newest), then a new batch, as the refill does.

Problems: three smooth stand-ins for validation accuracy over an MLP space (log learning rate,
log units, dropout, activation, batch size) with their optimum in different places, plus noise.
Reported: the mean best value after ``--trials`` trials per policy and the paired difference
(ahead minus on demand) with its standard error over seeds.

    python bench/parallel_quality.py                  # 3 problems x 12 seeds, about 10 minutes
    python bench/parallel_quality.py --smoke          # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import heapq
import math
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.machine import save  # noqa: E402
from service.core.spec import Dimension  # noqa: E402
from worker.engine.optimizer import BayesianSearch, Observation  # noqa: E402

SPACE = {
    "learning_rate": Dimension("float", 1e-5, 1e-1, log=True),
    "units": Dimension("int", 16, 512, log=True),
    "dropout": Dimension("float", 0.0, 0.5),
    "activation": Dimension("categorical", choices=("relu", "tanh", "sigmoid")),
    "batch_size": Dimension("categorical", choices=(16, 32, 64, 128)),
}
Objective = Callable[[dict[str, Any], np.random.Generator], float]


def problem(lr_best: float, units_best: float, dropout_best: float, act: str) -> Objective:
    def score(p: dict[str, Any], rng: np.random.Generator) -> float:
        value = 0.97 - 0.08 * (math.log10(p["learning_rate"]) - lr_best) ** 2
        value -= 0.03 * (math.log2(p["units"]) - units_best) ** 2 / 4
        value -= 0.4 * (p["dropout"] - dropout_best) ** 2 + 0.04 * (p["activation"] != act)
        value -= 0.01 * abs(math.log2(p["batch_size"]) - 5)
        return float(min(0.999, max(0.0, value + rng.normal(0, 0.003))))

    return score


PROBLEMS = {
    "mid": problem(-2.5, 7.0, 0.1, "relu"),
    "edge": problem(-1.2, 8.8, 0.45, "tanh"),
    "narrow": problem(-3.8, 4.5, 0.0, "sigmoid"),
}


def run(policy: str, objective: Objective, seed: int, trials: int, parallelism: int) -> float:
    search = BayesianSearch(
        SPACE, seed=seed, n_initial=max(parallelism, trials // 5), surrogate="GP",
        acquisition="gp_hedge", metric="val_accuracy", direction="max",
    )  # fmt: skip
    noise, durations = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    finished: list[Observation] = []
    running: dict[int, dict[str, Any]] = {}
    events: list[tuple[float, int]] = []
    ahead: list[dict[str, Any]] = []
    created = 0

    def dispatch(now: float) -> None:
        nonlocal created, ahead
        pending = list(running.values())
        model = search.model_points(finished, pending, 1)
        if policy == "ahead" and model and ahead:
            point = ahead.pop(0)
        else:  # the initial design, or on demand
            point = search.suggest(finished, pending, 1)[0]
        running[created] = point
        heapq.heappush(events, (now + float(durations.uniform(1, 3)), created))
        created += 1
        if policy == "ahead":  # the refill after this dispatch, ready by the next finish
            left = min(parallelism, trials - created)
            ahead = search.ask_ahead(finished, list(running.values()), left)

    for _ in range(parallelism):
        dispatch(0.0)
    while events:
        now, number = heapq.heappop(events)
        point = running.pop(number)
        finished.append(Observation(point, objective(point, noise)))
        if created < trials:
            dispatch(now)
    return max(o.value for o in finished if o.value is not None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--trials", type=int, default=25)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "parallel_quality.json"))
    args = parser.parse_args()
    problems = list(PROBLEMS)
    if args.smoke:
        args.seeds, args.trials, problems = 1, 6, problems[:1]
        args.out = "/tmp/tuneq-parallel-quality-smoke.json"
    rows = []
    for name in problems:
        best = {
            policy: [
                run(policy, PROBLEMS[name], s, args.trials, args.parallelism)
                for s in range(args.seeds)
            ]
            for policy in ("on_demand", "ahead")
        }
        diff = [a - b for a, b in zip(best["ahead"], best["on_demand"], strict=True)]
        se = statistics.stdev(diff) / math.sqrt(len(diff)) if len(diff) > 1 else 0.0
        row = {
            "problem": name,
            "on_demand": round(statistics.mean(best["on_demand"]), 4),
            "ahead": round(statistics.mean(best["ahead"]), 4),
            "difference": round(statistics.mean(diff), 4),
            "standard_error": round(se, 4),
        }
        rows.append(row)
        print(row, flush=True)
    save(
        args.out,
        {
            "benchmark": "parallel_quality",
            "seeds": args.seeds,
            "trials": args.trials,
            "parallelism": args.parallelism,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
