"""Several objectives: the front and its hypervolume, ParEGO's scalarisation, what a model
costs, the spec's rules, and how the front is described."""

from __future__ import annotations

import copy
from typing import Any

import keras
import numpy as np
import pytest
from flask.testing import FlaskClient

from service.core.pareto import costs, front, hypervolume, job_front
from service.core.records import JobRecord, JobStatus, TrialRecord, TrialState
from service.core.refit_summary import describe_pareto
from service.core.spec import ObjectiveSpec, load_spec, spec_from_dict, spec_to_dict
from service.core.spec.types import Direction
from service.reports import plots
from service.reports.plots import NoPlot
from tests.helpers import RecordingSearch
from tests.unit.test_spec_validation import assert_field_error, client  # noqa: F401
from worker.engine.cost import model_cost
from worker.engine.lookahead import uses_lookahead
from worker.engine.observation import Observation
from worker.engine.optimizer import BayesianSearch, make_suggester
from worker.engine.parego import ParEGO, scalarised, weights

ACCURACY = ObjectiveSpec("val_accuracy", Direction.MAX)
SIZE = ObjectiveSpec("param_count", Direction.MIN)


def two_objectives(spec: dict[str, Any], **search: Any) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    out["training"].pop("objective")
    out["training"]["objectives"] = [{"metric": "val_accuracy"}, {"metric": "param_count"}]
    out["search"].update(search)
    return out


def test_the_front_and_the_volume_it_dominates() -> None:
    assert costs({"val_accuracy": 0.9, "param_count": 10.0}, [ACCURACY, SIZE]) == (-0.9, 10.0)
    assert costs({"val_accuracy": 0.9}, [ACCURACY, SIZE]) is None
    assert costs({"val_accuracy": float("nan"), "param_count": 1.0}, [ACCURACY, SIZE]) is None
    assert front([(1, 2), (2, 1), (2, 2), (1, 2)]) == [0, 1, 3]  # equal points both stay
    assert hypervolume([(1, 2), (2, 1)], (3, 3)) == 3.0
    assert hypervolume([(1, 2), (2, 1), (2.5, 2.5)], (3, 3)) == 3.0  # dominated: adds nothing
    assert hypervolume([(1, 1, 2), (2, 2, 1)], (3, 3, 3)) == 5.0  # 4 + 2 - the shared 1
    assert hypervolume([(4, 0)], (3, 3)) == 0.0  # beyond the reference


def record(number: int, accuracy: float, size: float, state: TrialState) -> TrialRecord:
    metrics = {"val_accuracy": accuracy, "param_count": size}
    return TrialRecord("j", number, state, {"units": number}, value=accuracy, metrics=metrics)


def test_a_jobs_front_counts_completed_trials_against_a_reference_beyond_the_worst() -> None:
    trials = [
        record(0, 0.9, 1000.0, TrialState.COMPLETED),
        record(1, 0.8, 100.0, TrialState.COMPLETED),
        record(2, 0.7, 500.0, TrialState.COMPLETED),  # dominated by 1
        record(3, 0.99, 10.0, TrialState.PRUNED),  # a partial value: not a model's
    ]
    found = job_front(trials, [ACCURACY, SIZE])
    assert found is not None and found.trials == [0, 1]
    assert found.ideal == (-0.9, 100.0)
    assert found.reference == pytest.approx((-0.7 + 0.02, 1000.0 + 90.0))
    # 0: 0.22 x 90; 1: 0.12 x 900 more below it
    assert found.hypervolume == pytest.approx(0.22 * 90 + 0.12 * 900)
    assert found.normalised == pytest.approx(found.hypervolume / (0.22 * 990))
    alone = job_front(trials[:1], [ACCURACY, SIZE])
    assert alone is not None and alone.normalised == pytest.approx(1.0)
    assert job_front(trials[3:], [ACCURACY, SIZE]) is None


def observed(accuracy: float | None, size: float | None) -> Observation:
    metrics = {k: v for k, v in (("val_accuracy", accuracy), ("param_count", size)) if v}
    return Observation({"units": size}, accuracy, metrics=metrics)


def test_parego_scalarises_scaled_objectives_with_weights_of_each_step() -> None:
    w = weights(seed=3, step=5, k=2)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()
    assert np.array_equal(w, weights(3, 5, 2)) and not np.array_equal(w, weights(3, 6, 2))
    trials = [observed(0.9, 10.0), observed(0.5, 30.0), observed(0.7, 20.0)]
    trials += [observed(None, None), Observation({"units": 1}, 0.8)]  # failed; cost unknown
    told = scalarised(trials, [ACCURACY, SIZE], np.array([0.5, 0.5]))
    assert told[0].value == 0.0  # best at both: 0 whatever the weights
    assert told[1].value == pytest.approx(0.5 + 0.05 * 1.0)  # worst at both
    assert told[2].value == pytest.approx(0.25 + 0.05 * 0.5)
    assert (told[3].value, told[3].cancelled) == (None, False)  # a failure stays one
    assert (told[4].value, told[4].cancelled) == (None, True)  # counted, not told


def test_a_bayesian_job_with_several_objectives_searches_by_parego(spec: dict[str, Any]) -> None:
    job = load_spec(two_objectives(spec, parallelism=2))
    search = make_suggester(job)
    assert isinstance(search, ParEGO) and isinstance(search.inner, BayesianSearch)
    assert search.inner.direction == "max" and search.objectives == (ACCURACY, SIZE)
    assert search.inner.to_minimize(-0.25) == 0.25  # the cost itself: no transform
    assert not uses_lookahead(job)  # each step draws its own weights: nothing made ahead
    inner = RecordingSearch({"units": 4})
    parego = ParEGO(inner, [ACCURACY, SIZE], seed=1)
    assert (
        parego.suggest([observed(0.9, 10.0)], [], 2, prior=[observed(0.5, 30.0)])
        == [{"units": 4}] * 2
    )
    w = weights(1, 1, 2)  # step 1: one trial finished
    assert [o.value for o in inner.prior] == [pytest.approx(-w.max() - 0.05)]  # worst at both
    assert [o.value for o in inner.told] == [0.0]  # best at both; told negated
    random = make_suggester(load_spec(two_objectives(spec, strategy="random")))
    assert not isinstance(random, ParEGO)


def test_parego_is_led_by_the_second_objective_too(spec: dict[str, Any]) -> None:
    job = load_spec(two_objectives(spec, initial_points=4))
    search = make_suggester(job)
    points = search.suggest([], [], 6)
    accuracy = [0.8] * 6  # level: only the sizes tell the trials apart

    def trials(sizes: list[float]) -> list[Observation]:
        return [
            Observation(p, a, metrics={"val_accuracy": a, "param_count": size})
            for p, a, size in zip(points, accuracy, sizes, strict=True)
        ]

    small_is_good = search.suggest(trials([1e3, 2e3, 3e3, 4e3, 5e3, 6e3]), [], 1)
    large_is_good = search.suggest(trials([6e3, 5e3, 4e3, 3e3, 2e3, 1e3]), [], 1)
    assert small_is_good != large_is_good  # the same accuracies, other sizes: another point


def test_the_spec_rules_for_objectives(client: FlaskClient, spec: dict[str, Any]) -> None:  # noqa: F811
    loaded = load_spec(two_objectives(spec))
    assert loaded.training.objective == ACCURACY
    assert loaded.training.objectives == (ACCURACY, SIZE)
    assert loaded.training.all_objectives == (ACCURACY, SIZE)
    assert spec_from_dict(spec_to_dict(loaded)) == loaded == load_spec(spec_to_dict(loaded))
    single = load_spec(spec)
    assert single.training.all_objectives == (single.training.objective,)
    assert "objectives" not in spec_to_dict(single)["training"]
    cases = [
        ([{"metric": "param_count"}, {"metric": "val_accuracy"}], "training.objectives.0.metric"),
        ([{"metric": "val_accuracy"}], "training.objectives"),
        ([{"metric": "val_accuracy"}] * 2, "training.objectives.1.metric"),
        ([{"metric": "val_accuracy"}, {"metric": "val_mse"}], "training.objectives.1.metric"),
        (
            [{"metric": "val_accuracy"}, {"metric": "inference_ms", "direction": "max"}],
            "training.objectives.1.direction",
        ),
        ([{"metric": "val_accuracy"}, {"direction": "min"}], "training.objectives.1.metric"),
        ([{"metric": "val_accuracy"}, "param_count"], "training.objectives.1"),
        (
            [{"metric": f"val_{n}"} for n in ("accuracy", "loss", "auc", "f1")],
            "training.objectives",
        ),
    ]
    for objectives, path in cases:
        bad = two_objectives(spec)
        bad["training"]["objectives"] = objectives
        assert_field_error(client, bad, path)
    both = two_objectives(spec)
    both["training"]["objective"] = {"metric": "val_loss"}
    assert_field_error(client, both, "training.objective")
    both["training"]["objective"] = {"metric": "val_accuracy"}  # the same: fine
    assert load_spec(both).training.objectives == (ACCURACY, SIZE)
    bohb = two_objectives(spec, strategy="bohb")
    bohb["training"]["max_epochs"] = 9
    assert_field_error(client, bohb, "training.objectives")
    direction_only = two_objectives(spec)
    direction_only["training"]["objective"] = {"direction": "min"}
    assert_field_error(client, direction_only, "training.objective")
    staged = two_objectives(spec, strategy="hyperband")
    staged["training"]["max_epochs"] = 9
    staged["training"]["objectives"][0] = {"metric": "val_auc"}  # not measured per epoch
    assert_field_error(client, staged, "search.strategy")
    staged["training"]["objectives"][0] = {"metric": "val_accuracy"}
    assert load_spec(staged).search.stops_early
    cost_first = copy.deepcopy(spec)
    cost_first["training"]["objective"] = {"metric": "param_count"}
    assert_field_error(client, cost_first, "training.objective.metric")


def test_what_a_model_costs_to_serve() -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(3)])
    cost = model_cost(model, np.zeros((10, 4), dtype="float32"))
    assert cost["param_count"] == (4 + 1) * 8 + (8 + 1) * 3
    assert 0.0 < cost["inference_ms"] < 1000.0
    a, b = keras.Input((2,), name="a"), keras.Input((1,), name="b")
    joined = keras.Model(
        {"a": a, "b": b}, keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    )
    columns = {"a": np.zeros((5, 2), dtype="float32"), "b": np.zeros((5, 1), dtype="float32")}
    assert model_cost(joined, columns)["param_count"] == 4


def test_a_job_with_one_objective_has_no_pareto_plot(spec: dict[str, Any]) -> None:
    trials = [record(0, 0.9, 10.0, TrialState.COMPLETED)]
    single = JobRecord("j", "t", "n", JobStatus.SUCCEEDED, load_spec(spec), 1)
    with pytest.raises(NoPlot, match="several objectives"):
        plots.pareto(single, trials)
    assert job_front(trials, []) is None
    two = JobRecord("j", "t", "n", JobStatus.SUCCEEDED, load_spec(two_objectives(spec)), 1)
    with pytest.raises(NoPlot, match="No completed trial"):
        plots.pareto(two, [record(0, 0.9, 10.0, TrialState.PRUNED)])
    assert plots.pareto(two, trials).startswith(b"\x89PNG")


def test_the_front_as_the_report_and_the_cli_say_it() -> None:
    assert describe_pareto(None) == [] and describe_pareto({"front": []}) == []
    pareto = {
        "objectives": [
            {"metric": "val_accuracy", "direction": "max"},
            {"metric": "param_count", "direction": "min"},
        ],
        "front": [
            {"trial": n, "values": {"val_accuracy": 0.9 - n / 100, "param_count": 1000 - n}}
            for n in range(12)
        ],
        "hypervolume_normalised": 0.8123,
    }
    lines = describe_pareto(pareto)
    assert lines[0].startswith(
        "Pareto front (maximize val_accuracy, minimize param_count): 12 trials not dominated; "
        "they dominate 81.2% of the box"
    )
    assert lines[1] == "  trial 0: val_accuracy 0.9, param_count 1000"
    assert len(lines) == 12 and lines[-1] == "  and 2 more (the job's summary.pareto)"
