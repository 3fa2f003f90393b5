"""Hyperparameter importance from a job's trials: the dimension the objective depends on gets
the largest share, the shares sum to 1, and too few trials say why instead of guessing."""

from __future__ import annotations

import random

from service.core.records import TrialRecord, TrialState
from service.core.spec import load_spec
from worker.engine.importance import MIN_TRIALS, importance

SPEC = load_spec({
    "dataset": {"builtin": "iris"},
    "search_space": {
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "units": {"type": "int", "low": 8, "high": 256},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    },
})  # fmt: skip


def _trials(n: int) -> list[TrialRecord]:
    rng = random.Random(0)
    trials = []
    for i in range(n):
        params = {"learning_rate": 10 ** rng.uniform(-4, -1), "units": rng.randint(8, 256),
                  "activation": rng.choice(["relu", "tanh"])}  # fmt: skip
        value = 0.9 - 0.1 * abs(params["learning_rate"] - 0.01) * 10 + rng.gauss(0, 0.001)
        trials.append(TrialRecord("j", i, TrialState.COMPLETED, params, value=value))
    return trials


def test_the_dimension_that_drives_the_objective_ranks_first() -> None:
    found = importance(SPEC, _trials(40))
    shares = found["importance"]
    assert next(iter(shares)) == "learning_rate" and shares["learning_rate"] > 0.6
    assert abs(sum(shares.values()) - 1.0) < 1e-3 and found["trials"] == 40


def test_too_few_trials_say_so() -> None:
    found = importance(SPEC, _trials(MIN_TRIALS - 1))
    assert found["importance"] == {} and "at least" in found["note"]
