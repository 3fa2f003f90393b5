"""Pruning savings: epochs trained and best found with no pruning, the median rule and ASHA.

The same search (random, so every rule sees the same configurations in the same order, on the
same seeds) over the small-digits MLP space of bench/efficiency.py, up to 30 epochs with early
stopping. Pruning uses the engine's own ``Pruner`` through the training's epoch hook, comparing
each trial with the curves of the trials before it, as a sequential job would.

    python bench/pruning.py            # 2 seeds x 20 trials per rule
    python bench/pruning.py --smoke    # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.efficiency import job_spec, small_digits  # noqa: E402
from bench.machine import save  # noqa: E402
from service.core.spec import PruningSpec  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402
from worker.engine.dataset_loader import Dataset  # noqa: E402
from worker.engine.optimizer import Observation, make_suggester  # noqa: E402
from worker.engine.pruning import Pruner  # noqa: E402
from worker.engine.training import fit_trial  # noqa: E402

RULES = ("none", "median", "asha")


def run(rule: str, seed: int, trials: int, epochs: int, data: Dataset) -> dict[str, Any]:
    spec = job_spec("random", seed, trials, epochs)
    suggester = make_suggester(spec)
    pruner = None if rule == "none" else Pruner(PruningSpec(rule, 5, 3), epochs)
    curves: list[list[float]] = []
    done: list[Observation] = []
    trained, pruned, best = 0, 0, -math.inf
    for number in range(trials):
        params = suggester.suggest(done, [], 1)[0]
        stopped = [False]

        def hook(
            epoch: int, history: dict[str, list[float]], stopped: list[bool] = stopped
        ) -> bool:
            own = history.get("val_accuracy", [])
            if pruner is not None and pruner.should_prune(epoch, own, curves):
                stopped[0] = True
                return False
            return True

        config = configuration(spec.fixed, params)
        result = fit_trial(
            spec, config, data, seed=spec.search.seed * 100_003 + number, on_epoch=hook
        )
        curve = result.history.get("val_accuracy", [])
        curves.append(curve)
        trained += len(curve)
        pruned += stopped[0]
        value = max(curve) if curve else None
        done.append(Observation(params, value))
        best = max(best, value if value is not None else -math.inf)
    return {"epochs": trained, "pruned": pruned, "best": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "pruning.json"))
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.trials, args.epochs = 1, 3, 6
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-pruning-smoke.json")
    data = small_digits(300, 500)
    table = {}
    print(f"{'rule':<8}{'epochs':>8}{'saved':>8}{'pruned':>8}{'best (mean)':>13}  per seed")
    for rule in RULES:
        runs = [run(rule, seed, args.trials, args.epochs, data) for seed in range(args.seeds)]
        table[rule] = {
            "epochs": sum(r["epochs"] for r in runs),
            "pruned": sum(r["pruned"] for r in runs),
            "best_mean": statistics.mean(r["best"] for r in runs),
            "best": [r["best"] for r in runs],
        }
    baseline = table["none"]["epochs"]
    for rule, row in table.items():
        row["epochs_saved"] = round(1 - row["epochs"] / baseline, 4)
        seeds = " ".join(f"{b:.4f}" for b in row["best"])
        print(
            f"{rule:<8}{row['epochs']:>8}{row['epochs_saved']:>8.1%}{row['pruned']:>8}"
            f"{row['best_mean']:>13.4f}  {seeds}"
        )
    result = {
        "task": "digits, 300 training / 500 validation images",
        "seeds": args.seeds,
        "trials": args.trials,
        "max_epochs": args.epochs,
        "rules": table,
    }
    save(args.out, result)


if __name__ == "__main__":
    main()
