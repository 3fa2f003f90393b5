"""What each change to the trial engine saves on a small trial, measured one change at a time.

A small trial is mostly framework overhead: on digits the arithmetic of 15 epochs of a small
MLP takes a few tens of milliseconds, a trial about 2 s. This runs the engine's ``fit_trial``
on the ``bench/overhead.py`` workload (the same configurations and seeds) with the changes of
issue 21's third item switched on one after another, each in a fresh process with its heap
frozen after a warm-up trial, as a trial worker runs:

- ``before``: the engine as it was: Keras's ``validation_data`` (an ``evaluate`` each epoch,
  with its own input iterator and graph function), the scores by ``evaluate`` and ``predict``
  on each part, one optimizer step per call, and two input iterators an epoch (Keras makes
  the next epoch's at the end of each, then a new one at the start when the epoch length is
  not given);
- ``one_pass``: validation and scores from one forward pass (``worker.engine.evaluation``);
- ``one_iterator``: the epoch length given, so Keras keeps the iterator it made for the next
  epoch;
- ``per_execution``: several steps per call into the compiled step (the engine today);
- ``jit_compile``: today's engine with XLA compilation, a candidate that was measured and not
  taken;
- ``jax``: today's engine on the JAX backend, where JAX is installed.

Each variant runs ``--rounds`` times, interleaved with the others. Reported per variant: the
median milliseconds per trial (and each round's), its ratio to ``before``, and the largest
difference in the objective from today's engine (0: the same results).

    python bench/trial_cost.py             # 12 trials a variant, 3 rounds
    python bench/trial_cost.py --smoke     # seconds: keeps the script working in CI
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
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

from bench.machine import in_fresh_process, save  # noqa: E402
from bench.overhead import spec  # noqa: E402

STEPS = ("one_pass", "one_iterator", "per_execution")
VARIANTS = {
    "before": (),
    "one_pass": STEPS[:1],
    "one_iterator": STEPS[:2],
    "per_execution": STEPS,
    "jit_compile": (*STEPS, "jit_compile"),
    "jax": STEPS,
}


def configurations(trials: int, epochs: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The workload's spec and the random search's first ``trials`` configurations."""
    from service.core.spec import load_spec
    from service.core.vocabulary import configuration
    from worker.engine.optimizer import make_suggester

    body = spec(trials, epochs)
    job = load_spec(body)
    points = make_suggester(job).suggest([], [], trials)  # the random search's seeded draws
    return body, [configuration(job.fixed, p, job.model.family, job.task) for p in points]


def switch_off(changes: tuple[str, ...]) -> None:
    """Undo in this process the changes not in ``changes`` (and apply ``jit_compile``)."""
    import keras
    import numpy as np

    from worker.engine import training
    from worker.engine.metrics import from_predictions

    if "per_execution" not in changes:
        training.steps_per_execution = lambda config, steps, model: 1
    if "one_pass" not in changes:

        def keras_score(model, x, y, task, n_classes, prefix=""):  # type: ignore[no-untyped-def]
            tracked = model.evaluate(x, y, verbose=0, return_dict=True, batch_size=1024)
            predicted = np.asarray(model.predict(x, verbose=0, batch_size=1024), np.float64)
            return from_predictions(tracked, y, predicted, task, n_classes, prefix)

        training.score = keras_score
    fit, compile_ = keras.Model.fit, keras.Model.compile

    def old_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if "one_pass" not in changes:  # Keras's validation_data in place of the callback
            ours = [c for c in kwargs["callbacks"] if isinstance(c, training.Validation)]
            kwargs["callbacks"] = [c for c in kwargs["callbacks"] if c not in ours]
            kwargs["validation_data"] = (ours[0].x, ours[0].y)
        if "one_iterator" not in changes:
            kwargs.pop("steps_per_epoch", None)
        return fit(self, *args, **kwargs)

    def jit(self: Any, *args: Any, **kwargs: Any) -> Any:
        return compile_(self, *args, **{**kwargs, "jit_compile": True})

    keras.Model.fit = old_fit
    if "jit_compile" in changes:  # else Keras's own choice: off on a CPU with TensorFlow
        keras.Model.compile = jit


def run_variant(body: dict[str, Any], configs: list[dict[str, Any]], name: str) -> dict:
    """One variant's loop in this process (``--variant``)."""
    switch_off(VARIANTS[name])
    from service.core.spec import load_spec
    from worker.engine.dataset_loader import load_builtin
    from worker.engine.training import fit_trial

    job, dataset = load_spec(body), load_builtin("digits")
    metric = job.training.objective.metric
    fit_trial(job, configs[0], dataset, seed=1)  # warm-up, untimed
    gc.collect()
    gc.freeze()
    started, values = time.perf_counter(), []
    for number, config in enumerate(configs):
        values.append(fit_trial(job, config, dataset, seed=1000 + number).metrics.get(metric))
    return {"wall_s": time.perf_counter() - started, "values": values}


def in_own_process(body: dict[str, Any], configs: list[dict[str, Any]], name: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax" if name == "jax" else "tensorflow"}
    return in_fresh_process([__file__, "--variant", name], [body, configs], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant (median)")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "trial_cost.json"))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # one variant for ``in_own_process``: JSON in, JSON out
        body, configs = json.load(sys.stdin)
        print(json.dumps(run_variant(body, configs, args.variant)))
        return
    names = list(VARIANTS)
    if importlib.util.find_spec("jax") is None:
        names.remove("jax")
    if args.smoke:
        args.trials, args.epochs, args.rounds = 2, 2, 1
        names = ["before", "per_execution"]
        args.out = str(Path(tempfile.gettempdir()) / "tuneq-trial-cost-smoke.json")
    body, configs = configurations(args.trials, args.epochs)
    walls: dict[str, list[float]] = {name: [] for name in names}
    values: dict[str, list[float | None]] = {}
    for _ in range(args.rounds):  # interleaved, so a slow spell of the machine hits them all
        for name in names:
            run = in_own_process(body, configs, name)
            walls[name].append(run["wall_s"] / args.trials)
            values[name] = run["values"]
    base, today = statistics.median(walls["before"]), values["per_execution"]
    rows = {}
    for name in names:
        pairs = zip(values[name], today, strict=True)
        diff = max(abs((a or 0.0) - (b or 0.0)) for a, b in pairs)
        rows[name] = {
            "ms_per_trial": round(1000 * statistics.median(walls[name]), 1),
            "ms_per_trial_rounds": [round(1000 * wall, 1) for wall in walls[name]],
            "ratio_to_before": round(statistics.median(walls[name]) / base, 4),
            "max_objective_diff": round(diff, 6),
        }
        print(f"{name:>14}: {rows[name]}")
    result = {"trials": args.trials, "max_epochs": args.epochs, "rounds": args.rounds}
    save(args.out, {**result, "variants": rows})


if __name__ == "__main__":
    main()
