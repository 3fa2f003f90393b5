"""Which defaults should the conv families have? Candidate architectures, each trained as a job
with nothing searched would train it (Adam at 1e-3, early stopping with patience 5, the 20 %
hold-out), 3 seeds, on every task a conv family serves here: digits as 8x8 images (conv2d) and
the generated ``signal`` and ``order`` sequences of ``bench/refit.py`` (conv1d).

Candidates, and the reference architectures they follow:

- ``old``: two blocks of 32 filters, max pooling after each, flattened into two dense layers of
  64 (tuneq's first defaults);
- ``mnist``: Keras's "Simple MNIST convnet": two blocks (32 then 64 filters, kernel 3), max
  pooling after each, flattened straight into the output, dropout 0.5 before it;
- ``fcn``: the fully convolutional baseline for time series of Wang et al. (2017), as in Keras's
  "Timeseries classification from scratch": three blocks of 64 filters (kernel 3) with batch
  norm, no pooling between them, global average pooling into the output;
- ``gap-k3`` and ``gap-k5``: three blocks of 32 filters (kernel 3 or 5) with max pooling after
  each, so that the receptive field spans the input (an order task needs that), and global
  average pooling into the output (Lin et al. 2013, as ``fcn``); no batch norm, which on a few
  hundred rows moves its running statistics too slowly for early stopping's first epochs;
  ``gap-k3-64`` with 64 filters.

    python bench/conv_defaults.py          # 3 tasks x 6 candidates x 3 seeds: ~15 min, 2 cores
    python bench/conv_defaults.py --smoke  # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.machine import save  # noqa: E402
from bench.refit import job_spec, task  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402
from worker.engine.metrics import score  # noqa: E402
from worker.engine.training import fit_fold, validation_folds  # noqa: E402

_FCN = {"conv_blocks": 3, "filters": 64, "kernel_size": 3, "batch_norm": True, "n_layers": 0,
        "global_pooling": "average"}  # fmt: skip
_GAP = {"conv_blocks": 3, "filters": 32, "pooling": "max", "global_pooling": "average",
        "n_layers": 0, "batch_norm": False}  # fmt: skip
CANDIDATES: dict[str, dict[str, Any]] = {
    "old": {"conv_blocks": 2, "filters": 32, "kernel_size": 3, "pooling": "max",
            "global_pooling": "none", "n_layers": 2, "units": 64, "batch_norm": False},
    "mnist": {"conv_blocks": 2, "filters_1": 32, "filters_2": 64, "kernel_size": 3,
              "pooling": "max", "global_pooling": "none", "n_layers": 0, "dropout": 0.5,
              "batch_norm": False},
    "fcn": {**_FCN, "pooling": "none"},
    "gap-k3": {**_GAP, "kernel_size": 3},
    "gap-k5": {**_GAP, "kernel_size": 5},
    "gap-k3-64": {**_GAP, "kernel_size": 3, "filters": 64},
}  # fmt: skip
TASKS = (("conv2d", "digits"), ("conv1d", "signal"), ("conv1d", "order"))


def measure(family: str, name: str, candidate: dict[str, Any], seed: int, epochs: int) -> dict:
    data = task(name)
    spec = job_spec(family, data, seed, 1, epochs)
    config = configuration(candidate, {}, family, spec.task)
    trained = fit_fold(spec, config, data, validation_folds(spec, data)[0], seed)
    x_test = trained.scaler.transform(data.x_test)
    test = score(trained.model, x_test, data.y_test, data.task, data.n_classes)["accuracy"]
    return {"val": trained.result.metrics["val_accuracy"], "test": test,
            "epochs": trained.result.epochs, "params": trained.model.count_params()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--only", nargs="*", help="these candidates, keeping the others' results")
    args = parser.parse_args()
    seeds, epochs = (1, 2) if args.smoke else (args.seeds, args.epochs)
    tasks = TASKS[1:2] if args.smoke else TASKS
    out = Path(tempfile.gettempdir()) if args.smoke else ROOT / "bench" / "results"
    results: dict[str, Any] = {}
    if args.only and (out / "conv_defaults.json").exists():
        results = json.loads((out / "conv_defaults.json").read_text())["results"]
    candidates = {k: v for k, v in CANDIDATES.items() if not args.only or k in args.only}
    print(f"{'task':<16}{'candidate':<10}{'validation':>18}{'test':>18}{'params':>9}")
    for family, name in tasks:
        for label, candidate in candidates.items():
            runs = [measure(family, name, candidate, seed, epochs) for seed in range(seeds)]
            val, test = ([r[k] for r in runs] for k in ("val", "test"))
            results[f"{family}/{name}/{label}"] = runs
            print(f"{family + '/' + name:<16}{label:<10}{np.mean(val):>11.4f} ±{np.std(val):.3f}"
                  f"{np.mean(test):>11.4f} ±{np.std(test):.3f}{runs[0]['params']:>9}",
                  flush=True)  # fmt: skip
    save(out / "conv_defaults.json", {"seeds": seeds, "epochs": epochs, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
