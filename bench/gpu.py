"""Trials per hour of the trial engine on whatever Keras backend and device it runs on.

The same conv2d search on digits (8x8 images) that a GPU trial worker would run: a fixed list of
configurations drawn by the random search (seeded), each trained by the engine's own
``fit_trial`` with early stopping, exactly as a worker trains it, without the broker or the
store. Run it where the hardware is: ``KERAS_BACKEND=jax python bench/gpu.py`` on a GPU node (its
image needs no TensorFlow: the engine is backend-agnostic Keras), and the same on a CPU worker.
The first trial also compiles; the figure per hour counts the others (a worker is long-lived).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import keras  # noqa: E402

from bench.machine import save  # noqa: E402
from service.core.spec import load_spec  # noqa: E402
from service.core.vocabulary import configuration  # noqa: E402
from worker.engine.dataset_loader import load_builtin  # noqa: E402
from worker.engine.optimizer import RandomSearch  # noqa: E402
from worker.engine.training import fit_trial  # noqa: E402

SPEC = {
    "dataset": {"builtin": "digits"},
    "model": {"family": "conv2d"},
    "search_space": {
        "learning_rate": {"type": "float", "low": 3e-4, "high": 3e-2, "log": True},
        "filters": {"type": "int", "low": 16, "high": 64, "log": True},
        "units": {"type": "int", "low": 32, "high": 256, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.4},
        "batch_size": {"type": "categorical", "choices": [32, 64]},
    },
    "fixed": {
        "conv_blocks": 2,
        "n_layers": 1,
        "pooling": "max",
        "global_pooling": "none",
        "optimizer": "adam",
    },
    "training": {
        "max_epochs": 30,
        "early_stopping": {"monitor": "val_loss", "patience": 5},
        "objective": {"metric": "val_accuracy", "direction": "max"},
    },
    "search": {"strategy": "random", "max_trials": 50, "seed": 0},
}


def devices() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return ", ".join(str(d) for d in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return ", ".join(d.name for d in gpus) or "CPU"
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--label", default="", help="where it ran, for the table")
    parser.add_argument(
        "--out", default=str(ROOT / "bench" / "results" / f"gpu-{keras.backend.backend()}.json")
    )
    args = parser.parse_args()
    body: dict[str, Any] = json.loads(json.dumps(SPEC))
    if args.smoke:
        args.trials = 2
        body["training"]["max_epochs"] = 2
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-gpu-smoke.json")
    spec = load_spec(body)
    dataset = load_builtin("digits")
    points = RandomSearch(spec.search_space, spec.search.seed).suggest([], [], args.trials)
    rows = []
    for number, params in enumerate(points):
        config = configuration(spec.fixed, params, spec.model.family, spec.task)
        started = time.perf_counter()
        result = fit_trial(spec, config, dataset, seed=number)
        seconds = time.perf_counter() - started
        rows.append(
            {
                "trial": number,
                "seconds": round(seconds, 3),
                "epochs": result.epochs,
                "val_accuracy": round(result.metrics.get("val_accuracy", float("nan")), 4),
            }
        )
        print(f"trial {number:2d}: {seconds:6.2f} s, {result.epochs:2d} epochs, "
              f"val_accuracy {rows[-1]['val_accuracy']:.4f}", flush=True)  # fmt: skip
    warm = [r["seconds"] for r in rows[1:]] or [rows[0]["seconds"]]
    per_trial = statistics.mean(warm)
    result = {
        "backend": keras.backend.backend(),
        "devices": devices(),
        "label": args.label or os.environ.get("HOSTNAME", ""),
        "trials": rows,
        "first_trial_s": rows[0]["seconds"],
        "mean_warm_trial_s": round(per_trial, 3),
        "trials_per_hour": round(3600 / per_trial, 1),
        "mean_epochs": round(statistics.mean(r["epochs"] for r in rows), 1),
        "best_val_accuracy": max(r["val_accuracy"] for r in rows),
    }
    print(
        f"{result['backend']} on {result['devices']}: {result['trials_per_hour']} trials/hour "
        f"({per_trial:.2f} s a trial after the first, which took {rows[0]['seconds']:.2f} s)"
    )
    save(args.out, result)


if __name__ == "__main__":
    main()
