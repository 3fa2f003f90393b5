"""Is the model a job ships as good as the trial it was picked by?

Each built-in family runs a 15-trial Bayesian search (learning rate up to 0.03, width, dropout,
and for conv families filters and kernel size; the service's 20 % hold-out, early stopping with
patience 5) on tasks it suits, for 3 seeds. For the best trial it reports, side by side:

- ``search``: the best trial's validation accuracy (what picked it);
- ``trial own``: the test accuracy of the best trial's own model (its fold, its seed, its kept
  epoch: retrained here, checked to reproduce the search value);
- ``fixed epochs``: the test accuracy of the old refit (all training data, the best trial's
  epoch count, no validation);
- ``inner val``: the test accuracy of the refit that keeps a tenth aside and its best epoch
  (the shipped one, ``worker.engine.refit.DEFAULT_METHOD``), with that inner value.

Tasks: digits (8x8 images, as 64 columns for the MLP), ``signal`` (generated: four class
templates at random shifts in 64 samples of noise, sigma 0.6) and ``order`` (generated: whether
a bump comes before a dip in 64 noisy samples). Test parts are never used to choose anything.

    python bench/refit.py            # 5 family/task pairs x 3 seeds x 15 trials: ~30 min, 2 cores
    python bench/refit.py --old-defaults --pairs conv2d:digits conv1d:signal conv1d:order
    python bench/refit.py --smoke    # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from bench.machine import save  # noqa: E402
from service.core import vocabulary  # noqa: E402
from service.core.catalog import CLASSIFICATION, DatasetInfo  # noqa: E402
from service.core.spec import DatasetRef, JobSpec, load_spec  # noqa: E402
from worker.engine.dataset_loader import Dataset, load_builtin  # noqa: E402
from worker.engine.metrics import score  # noqa: E402
from worker.engine.optimizer import Observation, make_suggester  # noqa: E402
from worker.engine.refit import refit  # noqa: E402
from worker.engine.training import fit_fold, fit_trial, validation_folds  # noqa: E402

PAIRS = (("mlp", "digits"), ("conv2d", "digits"), ("mlp", "signal"), ("conv1d", "signal"),
         ("conv1d", "order"))  # fmt: skip
SPACE: dict[str, Any] = {
    "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}
WIDTH = {"units": {"type": "int", "low": 16, "high": 256, "log": True}}
CONV = {
    "filters": {"type": "int", "low": 8, "high": 64, "log": True},
    "kernel_size": {"type": "int", "low": 2, "high": 7},
}
METHODS = ("fixed_epochs", "inner_validation", "averaged")
OLD_DEFAULTS = 1
"""``--old-defaults``: the vocabulary's first defaults (``vocabulary.EARLIER_DEFAULTS``)."""


def generated(name: str, rows: int = 1000, length: int = 64) -> Dataset:
    """``signal``: which of four templates (bump, dip-bump, square, chirp) sits somewhere in the
    noise; ``order``: whether a bump comes before a dip. Cut 80 / 20 into training and test."""
    rng = np.random.default_rng(11)
    t = np.arange(12)
    templates = [
        np.exp(-((t - 6) ** 2) / 6.0) * 2,
        np.sin(t / 12 * 2 * np.pi) * 1.6,
        np.where((t > 2) & (t < 9), 1.4, 0.0),
        np.sin((t / 12) ** 2 * 6 * np.pi) * 1.4,
    ]
    x = rng.normal(scale=0.6, size=(rows, length))
    if name == "signal":
        y = rng.integers(0, len(templates), rows)
        for row, label in enumerate(y):
            at = rng.integers(0, length - 12)
            x[row, at : at + 12] += templates[label] * rng.uniform(0.8, 1.2)
    else:
        y = rng.integers(0, 2, rows)
        for row, label in enumerate(y):
            first, second = sorted(rng.choice(length - 12, 2, replace=False))
            bump, dip = (first, second) if label else (second, first)
            x[row, bump : bump + 12] += templates[0]
            x[row, dip : dip + 12] -= templates[0]
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype(np.float32), y, test_size=0.2, random_state=0, stratify=y
    )
    classes = int(y.max()) + 1
    return Dataset(name, CLASSIFICATION, x_train, y_train, x_test, y_test, classes)


def job_spec(
    family: str, data: Dataset, seed: int, trials: int, epochs: int,
    version: int = vocabulary.DEFAULTS_VERSION,
) -> JobSpec:  # fmt: skip
    space = {**SPACE, **(CONV if family != "mlp" else WIDTH)}
    spec = load_spec(
        {
            "dataset": {"builtin": "digits"},
            "model": {"family": family},
            "search_space": space,
            "training": {"max_epochs": epochs, "early_stopping": {"patience": 5}},
            "search": {"strategy": "bayesian", "max_trials": trials, "seed": seed},
        }
    )
    image = (8, 8, 1) if data.name == "digits" else None
    info = DatasetInfo(data.name, data.task, data.n_features, data.n_classes, len(data.x_train),
                       image_shape=image)  # fmt: skip
    dataset = DatasetRef(builtin=data.name, info=info)
    return dataclasses.replace(spec, dataset=dataset, defaults_version=version)


def run(
    family: str, data: Dataset, seed: int, trials: int, epochs: int,
    methods: tuple[str, ...] = METHODS, version: int = vocabulary.DEFAULTS_VERSION,
) -> dict[str, Any]:  # fmt: skip
    """One search, then the best trial's own model and each refit, all scored on the test part."""
    spec = job_spec(family, data, seed, trials, epochs, version)
    suggester, done, found = make_suggester(spec), [], []
    for number in range(trials):
        params = suggester.suggest(done, [], 1)[0]
        result = fit_trial(spec, _config(spec, params), data, seed=seed * 100_003 + number)
        value = None if result.diverged else result.metrics["val_accuracy"]
        done.append(Observation(params, value))
        found.append((value if value is not None else -1.0, number, params, result))
    value, number, params, result = max(found, key=lambda f: f[0])
    config = _config(spec, params)
    fold = validation_folds(spec, data)[0]
    own = fit_fold(spec, config, data, fold, seed * 100_003 + number)
    x_test = own.scaler.transform(data.x_test)
    own_test = score(own.model, x_test, data.y_test, data.task, data.n_classes)["accuracy"]
    out: dict[str, Any] = {
        "search": value,
        "reproduced": own.result.metrics.get("val_accuracy"),
        "trial_own": own_test,
        "best_epoch": result.best_epoch,
        "params": params,
    }
    epochs_kept = result.best_epoch or result.epochs
    for method in methods:
        shipped = refit(
            spec, config, data, epochs=epochs_kept, seed=seed, method=method, most=result.epochs
        )
        out[method] = shipped.test_metrics["test_accuracy"]
        if shipped.inner_metrics:
            out[f"{method}_inner"] = shipped.inner_metrics["val_accuracy"]
            out[f"{method}_epochs"] = shipped.epochs
    return out


def _config(spec: JobSpec, params: dict[str, Any]) -> dict[str, Any]:
    return spec.configuration(params)


def task(name: str) -> Dataset:
    return load_builtin("digits") if name == "digits" else generated(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--pairs", nargs="*", help="family:task pairs, e.g. conv1d:signal")
    parser.add_argument("--methods", nargs="*", choices=METHODS, help="refits to compare")
    parser.add_argument(
        "--old-defaults", action="store_true",
        help="the conv families' first defaults (the 'before' table): refit_old_defaults.json",
    )  # fmt: skip
    args = parser.parse_args()
    # (with the old defaults, dropout then came after the dense layers only)
    version = OLD_DEFAULTS if args.old_defaults else vocabulary.DEFAULTS_VERSION
    seeds, trials, epochs = (1, 2, 2) if args.smoke else (args.seeds, args.trials, args.epochs)
    pairs = [tuple(p.split(":")) for p in args.pairs] if args.pairs else list(PAIRS)
    if args.smoke:
        pairs = [("mlp", "signal")]
    rows: list[dict[str, Any]] = []
    methods = tuple(args.methods or METHODS)
    columns = ("search", "trial_own", *methods)
    print(f"{'family/task':<16}" + "".join(f"{c:>18}" for c in columns) + f"{'inner':>10}")
    for family, name in pairs:
        data = task(name)
        began = time.perf_counter()
        runs = [run(family, data, seed, trials, epochs, methods, version) for seed in range(seeds)]
        means = {c: float(np.mean([r[c] for r in runs])) for c in columns}
        spread = {c: float(np.std([r[c] for r in runs])) for c in columns}
        inners = [r["inner_validation_inner"] for r in runs if "inner_validation_inner" in r]
        inner = float(np.mean(inners)) if inners else None
        rows.append({"family": family, "task": name, "mean": means, "std": spread,
                     "inner_validation_value": inner, "runs": runs,
                     "seconds": time.perf_counter() - began})  # fmt: skip
        cells = "".join(f"{means[c]:>11.4f} ±{spread[c]:.3f}" for c in columns)
        shown = f"{inner:>10.4f}" if inner is not None else f"{'-':>10}"
        print(f"{family + '/' + name:<16}{cells}{shown}", flush=True)
    out = Path(tempfile.gettempdir()) if args.smoke else ROOT / "bench" / "results"
    saved = "refit_old_defaults.json" if args.old_defaults else "refit.json"
    if args.methods:
        saved = saved.replace(".json", "_" + "_".join(methods) + ".json")
    save(
        out / saved,
        {
            "old_defaults": args.old_defaults,
            "seeds": seeds,
            "trials": trials,
            "epochs": epochs,
            "pairs": rows,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
