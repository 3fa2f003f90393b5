"""What the refit ships, with and without the finalists' second look (``worker.engine.finalists``).

The job of issue 20: the digits MLP of ``service/specs/digits-full.json`` (optimizer, schedule,
depth, width, activation, batch norm, dropout, L2 and batch size searched), but validated as a
user writes it without thinking: one 20 % hold-out (288 images). 40 Bayesian trials per seed,
run in process with the service's own engine (suggest, then ``fit_trial`` with the seed the
job's trial would have). Then from the same trials, two refits, each scored once on the test
split (360 images, never seen by either choice):

- **search's best**: what tuneq shipped before (``finalists: 0``), the best hold-out value;
- **finalists**: the job's default, the best ``finalists`` trials scored again by
  ``finalist_folds``-fold cross-validation on the training part, the best mean refit.

When both pick the same trial the refit is the same (seeded), so the difference is the choice
alone. Reported per seed and as the mean.

    python bench/selection.py                  # 3 seeds x 40 trials (about 15 minutes here)
    python bench/selection.py --seeds 0 --trials 12 --finalists 3
    python bench/selection.py --smoke          # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import save  # noqa: E402
from service.core.records import TrialRecord, TrialState  # noqa: E402
from service.core.spec import JobSpec, load_spec  # noqa: E402
from service.core.vocabulary import active_params  # noqa: E402
from worker.engine.dataset_loader import Dataset, load_builtin  # noqa: E402
from worker.engine.finalists import candidates, rescore  # noqa: E402
from worker.engine.optimizer import Observation, make_suggester  # noqa: E402
from worker.engine.refit import ship  # noqa: E402
from worker.engine.training import fit_trial  # noqa: E402

SPEC = ROOT / "service" / "specs" / "digits-full.json"


def job_spec(seed: int, trials: int, finalists: int, folds: int, epochs: int | None) -> JobSpec:
    """digits-full with the default 20 % hold-out, as a user would write it."""
    body = json.loads(SPEC.read_text())
    body["training"]["validation"] = {"split": 0.2}
    if epochs is not None:
        body["training"]["max_epochs"] = epochs
    initial = min(body["search"]["initial_points"], max(1, trials // 4))
    body["search"].update(seed=seed, max_trials=trials, initial_points=initial,
                          finalists=finalists, finalist_folds=folds)  # fmt: skip
    return load_spec(body)


def search(spec: JobSpec, data: Dataset) -> list[TrialRecord]:
    """The job's trials, one at a time, as the scheduler would make them."""
    suggester = make_suggester(spec)
    observed: list[Observation] = []
    trials: list[TrialRecord] = []
    family, task, hps = spec.model.family, spec.task, spec.hyperparameters
    for number in range(spec.search.max_trials):
        point = suggester.suggest(observed, [], 1)[0]
        params = active_params(spec.resolved_fixed, point, family, task, hps)
        result = fit_trial(
            spec, spec.configuration(params), data, seed=spec.search.seed * 100_003 + number
        )
        value = None if result.diverged else result.metrics.get("val_accuracy")
        state = TrialState.COMPLETED if value is not None else TrialState.DIVERGED
        trials.append(TrialRecord("bench", number, state, params, value=value,
                                  epochs=result.epochs, best_epoch=result.best_epoch))  # fmt: skip
        observed.append(Observation(params, value))
    return trials


def shipped(spec: JobSpec, trial: TrialRecord, data: Dataset) -> float:
    """The refit of ``trial`` as finalization runs it; its test accuracy."""
    epochs = trial.best_epoch or trial.epochs_per_fold
    metrics, _, _ = ship(spec, spec.configuration(trial.params), data, trial.value,
                         epochs=epochs, most=trial.epochs_per_fold)  # fmt: skip
    return float(metrics["test_accuracy"])


def one_seed(seed: int, args: argparse.Namespace, data: Dataset) -> dict[str, Any]:
    spec = job_spec(seed, args.trials, args.finalists, args.folds, args.epochs)
    began = time.perf_counter()
    trials = search(spec, data)
    searched = time.perf_counter() - began
    best = max((t for t in trials if t.value is not None), key=lambda t: (t.value, -t.number))
    chosen = candidates(spec, trials)
    began = time.perf_counter()
    scored = rescore(spec, chosen, data) if chosen else []
    rescored_s = time.perf_counter() - began
    pick = next((f.trial for f in scored if f.chosen), best.number)
    before = shipped(spec, best, data)
    after = before if pick == best.number else shipped(spec, trials[pick], data)
    row = {
        "seed": seed,
        "search_best": {"trial": best.number, "validation": best.value, "test": before},
        "finalists": [dataclasses.asdict(f) for f in scored],
        "chosen": {"trial": pick, "validation": trials[pick].value, "test": after},
        "search_s": round(searched, 1),
        "rescore_s": round(rescored_s, 1),
    }
    print(
        f"seed {seed}: search's best trial {best.number} val {best.value:.4f} test {before:.4f}"
        f" | finalists chose {pick} test {after:.4f} | search {searched:.0f} s, second look"
        f" {rescored_s:.0f} s",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--finalists", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="max_epochs (default: the spec's)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "selection.json"))
    args = parser.parse_args()
    if args.smoke:
        args.seeds, args.trials, args.epochs, args.finalists = [0], 4, 3, 2
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-selection-smoke.json")
    data = load_builtin("digits")
    rows = [one_seed(seed, args, data) for seed in args.seeds]
    before = statistics.mean(r["search_best"]["test"] for r in rows)
    after = statistics.mean(r["chosen"]["test"] for r in rows)
    print(f"mean test accuracy: search's best {before:.4f}, finalists {after:.4f}")
    save(args.out, {
        "trials": args.trials, "finalists": args.finalists, "folds": args.folds,
        "seeds": rows, "mean_test": {"search_best": before, "finalists": after},
    })  # fmt: skip


if __name__ == "__main__":
    main()
