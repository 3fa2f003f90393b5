"""Hyperband's brackets, their pruning, BOHB's budgets and the spec's rules for them."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from flask.testing import FlaskClient

from service.core.records import TrialRecord, TrialState
from service.core.spec import HyperbandSpec, load_spec, spec_from_dict, spec_to_dict
from service.core.spec.brackets import Bracket, bracket_of, brackets, budgets, too_short
from service.core.spec.types import SpecLimits, Strategy, ValidationMethod
from tests.helpers import RecordingSearch
from tests.unit.test_spec_validation import assert_field_error, client  # noqa: F401
from worker.engine.bohb import BudgetedSearch, at_budget, fitting_budget
from worker.engine.job_summary import trial_summary
from worker.engine.observation import Observation
from worker.engine.optimizer import BayesianSearch, RandomSearch, make_suggester
from worker.engine.pruning import BracketPruner, Pruner, pruner_for


def hyperband_spec(spec: dict[str, Any], strategy: str = "hyperband", **search: Any) -> dict:
    out = copy.deepcopy(spec)
    out["training"]["max_epochs"] = 9
    out["search"] = {"strategy": strategy, "max_trials": 20, "seed": 3, **search}
    return out


def test_the_brackets_are_those_of_li_et_al() -> None:
    # R = 81, eta = 3: Table 1 of the Hyperband paper (n_i per bracket, r_i = 1, 3, 9, 27)
    layout = brackets(81, HyperbandSpec(min_epochs=1, reduction_factor=3))
    assert [(b.index, b.size) for b in layout] == [(4, 81), (3, 34), (2, 15), (1, 8), (0, 5)]
    assert [b.rungs for b in layout] == [(1, 3, 9, 27), (3, 9, 27), (9, 27), (27,), ()]
    assert budgets(81, layout) == (1, 3, 9, 27, 81)
    # min_epochs bounds how aggressive the first bracket may be
    assert [b.rungs for b in brackets(30, HyperbandSpec(5, 3))] == [(10,), ()]
    assert brackets(2, HyperbandSpec(1, 3)) == ()
    message = too_short(2, HyperbandSpec(1, 3))
    assert message is not None and "(3)" in message
    assert too_short(3, HyperbandSpec(1, 3)) is None


def test_the_brackets_take_turns_within_a_round_in_proportion_to_their_sizes() -> None:
    layout = brackets(9, HyperbandSpec(1, 3))  # sizes 9, 5, 3
    order = [bracket_of(n, layout).index for n in range(17)]
    assert order == [2, 1, 2, 0, 2, 1, 2, 2, 1, 0, 2, 1, 2, 2, 0, 1, 2]
    assert [order.count(s) for s in (2, 1, 0)] == [9, 5, 3]
    assert [bracket_of(n, layout).index for n in range(17, 34)] == order  # the next round
    # a budget shorter than a round (49 trials) still hedges over every bracket
    first = [bracket_of(n, brackets(30, HyperbandSpec(1, 3))).index for n in range(20)]
    assert [first.count(s) for s in (3, 2, 1, 0)] == [11, 5, 2, 2]


def test_a_bracket_judges_at_its_own_rungs_against_its_own_trials(
    spec: dict[str, Any],
) -> None:
    job = load_spec(hyperband_spec(spec))
    first, second, last = (pruner_for(job, n) for n in (0, 1, 3))
    assert isinstance(first, BracketPruner) and isinstance(second, BracketPruner)
    assert [e for e in range(1, 10) if first.checks_at(e)] == [1, 3]
    assert [e for e in range(1, 10) if second.checks_at(e)] == [3]
    assert isinstance(last, BracketPruner) and not any(last.checks_at(e) for e in range(1, 10))
    assert first.peer(2) and not first.peer(1) and first.peer(17)  # 17 opens the next round
    good, bad = [0.9, 0.9, 0.9], [0.1, 0.1, 0.1]
    peers = [good, [0.8] * 3, [0.7] * 3]
    assert first.should_prune(1, bad[:1], peers)  # not in the top third of four
    assert not first.should_prune(2, bad[:2], peers)  # not a rung of bracket 2
    assert not first.should_prune(1, good[:1], peers)
    assert not last.should_prune(3, bad, peers)  # bracket 0 trains everything fully
    pruning = load_spec({**spec, "search": {**spec["search"], "pruning": {"rule": "asha"}}})
    plain = pruner_for(pruning, 0)
    assert type(plain) is Pruner and plain.peer(123)
    assert pruner_for(load_spec(spec), 0) is None


def observed(value: float | None, curve: Sequence[float], complete: bool = False) -> Observation:
    return Observation({"x": value}, value, curve=tuple(curve), complete=complete)


def test_bohb_fits_at_the_largest_budget_that_enough_trials_reached() -> None:
    finished = [
        observed(0.5, [0.5]),  # stopped at the first rung
        observed(0.6, [0.4, 0.5, 0.6]),  # stopped at the second
        observed(0.8, [0.3, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8], complete=True),
        observed(0.75, [0.6, 0.75], complete=True),  # early stopping ended it: all it gets
        observed(None, [0.1, float("nan")]),  # diverged: a failure at any budget
        Observation({"x": 9}, None, cancelled=True),
    ]
    assert fitting_budget(finished, (1, 3, 9), min_points=3) == 3
    assert fitting_budget(finished, (1, 3, 9), min_points=2) == 9
    assert fitting_budget(finished, (1, 3, 9), min_points=5) is None  # random until then
    seen = at_budget(finished, 3, "max")
    assert [(o.value, o.cancelled) for o in seen] == [
        (None, True),  # short of the budget: counted, not told
        (0.6, False),
        (0.8, False),  # its best up to epoch 3, not its final value
        (0.75, False),  # past the end of its curve: its own value
        (None, False),
        (None, True),
    ]
    assert [o.value for o in at_budget(finished, 9, "max")][:4] == [None, None, 0.8, 0.75]
    assert [o.value for o in at_budget(finished, 1, "min")][:4] == [0.5, 0.4, 0.3, 0.6]
    assert all(o.value is None for o in at_budget(finished, None, "max"))


def test_the_strategies_build_their_searches(spec: dict[str, Any]) -> None:
    random = make_suggester(load_spec(hyperband_spec(spec)))
    assert isinstance(random, RandomSearch)
    same = make_suggester(load_spec({**spec, "search": {"strategy": "random", "seed": 3}}))
    assert random.suggest([], [], 4) == same.suggest([], [], 4)
    bohb = make_suggester(load_spec(hyperband_spec(spec, "bohb")))
    assert isinstance(bohb, BudgetedSearch) and isinstance(bohb.inner, BayesianSearch)
    assert bohb.budgets == (1, 3, 9) and bohb.min_points == len(spec["search_space"]) + 1
    inner = RecordingSearch({"x": 1})
    search = BudgetedSearch(inner, (1, 2), min_points=1, direction="max")
    prior = [observed(0.5, [0.3, 0.5, 0.5], complete=True)]  # a warm start's, told likewise
    finished = [observed(0.2, [0.2, 0.4]), observed(0.9, [0.9])]
    assert search.suggest(finished, [], 2, prior) == [{"x": 1}] * 2
    assert [(o.value, o.cancelled) for o in inner.told] == [(0.4, False), (None, True)]
    assert [o.value for o in inner.prior] == [0.5]


def test_bohb_proposes_from_the_model_after_its_initial_points(spec: dict[str, Any]) -> None:
    job = load_spec(hyperband_spec(spec, "bohb", initial_points=3))
    search = make_suggester(job)
    values = [0.5, 0.7, 0.9, 0.6, 0.8]  # d + 1 = 5 trials reached the last budget
    points = search.suggest([], [], 3) + RandomSearch(job.search_space, 9).suggest([], [], 2)
    finished = [
        Observation(p, v, curve=(v / 2, v, v), complete=True)
        for p, v in zip(points, values, strict=True)
    ]
    first = search.suggest(finished, [], 1)
    assert first == search.suggest(finished, [], 1)  # the same results, the same suggestion
    assert first != RandomSearch(job.search_space, job.search.seed).suggest(finished, [], 1)


def test_the_spec_rules_for_hyperband(client: FlaskClient, spec: dict[str, Any]) -> None:  # noqa: F811
    loaded = load_spec(hyperband_spec(spec, hyperband={"min_epochs": 3, "reduction_factor": 2}))
    assert loaded.search.strategy == Strategy.HYPERBAND and loaded.search.stops_early
    assert loaded.search.hyperband == HyperbandSpec(3, 2)
    assert spec_from_dict(spec_to_dict(loaded)) == loaded
    assert load_spec(spec_to_dict(loaded)) == loaded
    assert "hyperband" not in spec_to_dict(load_spec(spec))["search"]  # copied, submits again
    pruning = hyperband_spec(spec, pruning={"rule": "asha"})
    assert_field_error(client, pruning, "search.pruning")
    assert_field_error(client, {**spec, "search": {"hyperband": {}}}, "search.hyperband")
    short = hyperband_spec(spec, hyperband={"min_epochs": 4})  # 4 x 3 > 9 epochs
    assert_field_error(client, short, "search.hyperband.min_epochs")
    for value in (1, 11, "3", None):
        bad = hyperband_spec(spec, "bohb", hyperband={"reduction_factor": value})
        assert_field_error(client, bad, "search.hyperband.reduction_factor")
    kfold = hyperband_spec(spec)
    kfold["training"]["validation"] = {"method": "kfold", "folds": 3}
    assert_field_error(client, kfold, "search.strategy")
    unknown = hyperband_spec(spec, "hyperbands")
    assert_field_error(client, unknown, "search.strategy")
    small = hyperband_spec(spec)
    del small["training"]["validation"]
    validation = load_spec(small, SpecLimits(kfold_below_rows=1000)).training.validation
    assert validation.method == ValidationMethod.HOLDOUT
    assert validation.reason is not None and "Hyperband" in validation.reason


def trial(number: int, state: TrialState, value: float | None, epochs: int) -> TrialRecord:
    return TrialRecord("j", number, state, {}, value=value, epochs=epochs)


def test_the_summary_tells_how_each_bracket_went(spec: dict[str, Any]) -> None:
    job = load_spec(hyperband_spec(spec))
    trials = [
        trial(0, TrialState.COMPLETED, 0.7, 9),  # brackets 2, 1, 2, 0, 2 (the round's order)
        trial(1, TrialState.PRUNED, 0.3, 3),
        trial(2, TrialState.PRUNED, 0.9, 1),  # a partial value: not a best, as for the job
        trial(3, TrialState.COMPLETED, 0.8, 9),
        trial(4, TrialState.FAILED, None, 2),
    ]
    summary = trial_summary(job, trials)
    assert summary["brackets"] == [
        {"bracket": 2, "rungs": [1, 3], "trials": 3, "pruned": 1, "epochs_trained": 12,
         "best_value": 0.7, "best_trial": 0},
        {"bracket": 1, "rungs": [3], "trials": 1, "pruned": 1, "epochs_trained": 3,
         "best_value": None, "best_trial": None},
        {"bracket": 0, "rungs": [], "trials": 1, "pruned": 0, "epochs_trained": 9,
         "best_value": 0.8, "best_trial": 3},
    ]  # fmt: skip
    assert summary["epochs_saved_by_pruning"] == 6 + 8
    assert "brackets" not in trial_summary(load_spec(spec), trials)
    assert isinstance(brackets(9, job.search.hyperband)[0], Bracket)
