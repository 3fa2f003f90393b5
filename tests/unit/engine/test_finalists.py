"""The finalists' second look (``worker.engine.finalists``): who qualifies, who is chosen, and a
real k-fold re-scoring of tiny iris models."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from service.core.records import TrialRecord, TrialState
from service.core.spec import load_spec
from service.core.spec.types import ValidationMethod, ValidationSpec
from tests.helpers import VALID_SPEC, synthetic_spec
from worker.engine.dataset_loader import load_builtin
from worker.engine.finalists import Finalist, candidates, cross_validated, mark_chosen, rescore


def spec_with(**search: Any) -> Any:
    body = {**VALID_SPEC, "search": {**VALID_SPEC["search"], **search}}
    return load_spec(body)


def trial(number: int, value: float | None, state: TrialState = TrialState.COMPLETED,
          units: int | None = None) -> TrialRecord:  # fmt: skip
    params = {"learning_rate": 0.01, "units": units or 4 + number, "activation": "relu",
              "batch_size": 16}  # fmt: skip
    return TrialRecord("j", number, state, params, value=value)


def test_the_best_distinct_completed_trials_qualify_best_first() -> None:
    spec = spec_with(finalists=3)
    trials = [
        trial(0, 0.90),
        trial(1, 0.99, TrialState.PRUNED),  # a partial run's value
        trial(2, 0.95),
        trial(3, None, TrialState.FAILED),
        trial(4, 0.95, units=6),  # the same configuration as trial 2
        trial(5, 0.97),
        trial(6, 0.80),
    ]
    assert [t.number for t in candidates(spec, trials)] == [5, 2, 0]
    low = load_spec({**VALID_SPEC, "training": {**VALID_SPEC["training"],
                     "objective": {"metric": "val_loss", "direction": "min"}},
                     "search": {**VALID_SPEC["search"], "finalists": 2}})  # fmt: skip
    assert [t.number for t in candidates(low, trials)] == [6, 0]


def test_no_second_look_where_it_adds_nothing() -> None:
    trials = [trial(0, 0.9), trial(1, 0.8), trial(2, 0.7)]
    assert candidates(spec_with(finalists=0), trials) == []
    assert candidates(spec_with(finalists=1), trials) == []
    assert candidates(spec_with(finalists=3), trials[:1]) == []  # one qualifies
    kfold = load_spec({**VALID_SPEC, "training": {**VALID_SPEC["training"],
                       "validation": {"method": "kfold", "folds": 3}}})  # fmt: skip
    assert candidates(kfold, trials) == []  # already cross-validated
    base = spec_with()
    dataset = ValidationSpec(method=ValidationMethod.DATASET)
    own = dataclasses.replace(base, training=dataclasses.replace(base.training, validation=dataset))
    assert candidates(own, trials) == []  # the user said which rows to judge by
    synthetic = load_spec(synthetic_spec(3, sleep_s=0.0))
    assert candidates(synthetic, trials) == []


def test_the_best_rescored_value_is_chosen() -> None:
    spec = spec_with()
    scored = [Finalist(4, 0.99, 0.93), Finalist(7, 0.98, 0.96), Finalist(2, 0.97, None)]
    assert [f.chosen for f in mark_chosen(spec, scored)] == [False, True, False]
    tie = [Finalist(4, 0.99, 0.95), Finalist(7, 0.98, 0.95)]
    assert [f.chosen for f in mark_chosen(spec, tie)] == [True, False]  # the search's order
    failed = [Finalist(4, 0.99, None), Finalist(7, 0.98, None)]
    assert [f.chosen for f in mark_chosen(spec, failed)] == [True, False]  # the search's best


def test_finalists_are_trained_again_by_k_fold() -> None:
    spec = spec_with(finalists=2, finalist_folds=3)
    kfold = cross_validated(spec)
    assert kfold.training.validation.method == ValidationMethod.KFOLD
    assert kfold.training.validation.folds == 3
    assert dataclasses.replace(kfold, training=spec.training) == spec
    data = load_builtin("iris")
    scored = rescore(spec, [trial(0, 0.9, units=8), trial(1, 0.8, units=16)], data)
    assert [f.trial for f in scored] == [0, 1]
    assert [f.search_value for f in scored] == [0.9, 0.8]
    assert sum(f.chosen for f in scored) == 1
    for finalist in scored:
        assert finalist.rescored_value is not None and 0.0 <= finalist.rescored_value <= 1.0
        assert finalist.rescored_std is not None and finalist.rescored_std >= 0.0


def test_a_finalist_that_fails_is_out_and_a_lost_lease_stops_the_second_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import worker.engine.training as training

    spec = spec_with(finalists=2, finalist_folds=2)
    finalists = [trial(0, 0.9, units=8), trial(1, 0.8, units=16)]
    data = load_builtin("iris")
    asked: list[int] = []
    assert rescore(spec, finalists, data, keep_going=lambda: bool(asked.append(1))) is None
    assert len(asked) == 1  # asked before the first training, which never ran
    real = training.fit_trial

    def fit(spec: Any, config: Any, *args: Any, **kwargs: Any) -> Any:
        if config["units"] == 8:
            raise MemoryError("out of memory")
        return real(spec, config, *args, **kwargs)

    monkeypatch.setattr(training, "fit_trial", fit)
    scored = rescore(spec, finalists, data)
    assert scored is not None
    assert scored[0].rescored_value is None and "MemoryError" in (scored[0].error or "")
    assert scored[1].rescored_value is not None and scored[1].chosen
