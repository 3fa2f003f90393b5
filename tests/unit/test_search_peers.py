"""The search suite's adapters for other libraries (``bench/search_peers.py``) give each peer
the problem as it is (its conditions, each scale of a range), hand its points to the problems
as the problems' types, and run the suite's loop of trials with some still running. The
libraries themselves are benchmark-only extras, so these check the parts that are ours
without them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.search_peers import _hebo_space, _typed, ask_tell
from bench.search_problems import Problem, problems, real
from bench.search_suite import summarise

SUITE = problems()


def test_a_layer_width_is_active_only_with_its_layer() -> None:
    problem = SUITE["layered-deep"]
    assert problem.active("units_2", {"n_layers": 2})
    assert not problem.active("units_3", {"n_layers": 2})
    assert problem.active("units_1", {"n_layers": 1}) and problem.active("learning_rate", {})


def test_hebo_sees_each_scale_and_choices_as_labels() -> None:
    declared = {d["name"]: d for d in _hebo_space(SUITE["layered"])}
    assert declared["n_layers"] == {"name": "n_layers", "type": "int", "lb": 1, "ub": 3}
    assert declared["units_1"]["type"] == "pow_int"
    assert declared["learning_rate"] == {
        "name": "learning_rate", "type": "pow", "lb": 1e-5, "ub": 1e-1
    }  # fmt: skip
    assert declared["activation"] == {
        "name": "activation", "type": "cat", "categories": ["relu", "tanh"]
    }  # fmt: skip
    assert {d["type"] for d in _hebo_space(SUITE["branin"])} == {"num"}


def test_a_peers_point_gets_the_types_of_the_space() -> None:
    """A frame of numbers only gives HEBO's integers as floats; scikit-learn refuses them."""
    problem = SUITE["forest-wine"]
    point = _typed(problem, {"n_estimators": 12.0, "max_depth": np.float64(3.0),
                             "max_features": np.float64(0.5), "min_samples_leaf": 2.0})  # fmt: skip
    assert point == {"n_estimators": 12, "max_depth": 3, "max_features": 0.5, "min_samples_leaf": 2}
    assert {type(v) for v in point.values()} == {int, float}
    assert type(point["max_features"]) is float
    problem.evaluate(point)  # scikit-learn takes it
    row = {"n_neighbors": np.int64(5), "weights": np.str_("distance"), "p": 2}
    labelled = _typed(SUITE["knn-wine"], row)
    assert labelled == {"n_neighbors": 5, "weights": "distance", "p": 2}


def test_the_loop_keeps_some_running_and_tells_the_oldest_first() -> None:
    problem = Problem("probe", "synthetic", {"x": real(0, 1)}, lambda p: p["x"])
    asked: list[int] = []
    told: list[int] = []
    most_running = 0

    def ask() -> tuple[Any, dict]:
        nonlocal most_running
        asked.append(len(asked))
        most_running = max(most_running, len(asked) - len(told))
        return asked[-1], {"x": asked[-1] / 10}

    values = ask_tell(ask, lambda handle, value: told.append(handle), problem, 7, 3)
    assert told == list(range(7)) and asked == told  # none asked beyond the budget
    assert most_running == 3
    assert values == [i / 10 for i in range(7)]


def test_a_peer_that_runs_one_at_a_time_is_left_out_of_the_running_setting() -> None:
    """HEBO has no scores with 4 running: the summary of that setting leaves it out instead
    of failing, and ranks it in the setting it ran."""
    scores = {}
    for seed in range(2):
        for method in ("tuneq", "tuneq-random", "hebo"):
            for running in (1, 4):
                if method == "hebo" and running == 4:
                    continue
                scores["branin", method, seed, 8, running] = 0.5 if method == "hebo" else 1.0
    summary = summarise(scores, ["tuneq", "tuneq-random", "hebo"], ["branin"])
    assert list(summary["budget 8, 4 running"]) == ["tuneq", "tuneq-random"]
    sequential = summary["budget 8, sequential"]["hebo"]
    assert sequential["overall"]["mean"] == 0.5
    assert sequential["difference_from_default"]["mean"] == -0.5


def test_a_stopped_run_keeps_its_runs_and_resumes(tmp_path: Path) -> None:
    """A run of hours appends each finished run to its log: resumed, it runs only what is
    missing; summarised early, it reports only whole seeds."""
    import json

    from bench.search_suite import logged_runs, whole_seeds

    log = tmp_path / "suite.runs.jsonl"
    tasks = [("branin", "tuneq-random", seed, 4, 1) for seed in range(2)]
    tasks += [("hartmann6", "tuneq-random", 0, 4, 1)]
    log.write_text(json.dumps([list(tasks[0]), [9.0, 8.0, 7.0, 6.0]]) + "\n")
    assert logged_runs(log, tasks, run=False) == {tasks[0]: [9.0, 8.0, 7.0, 6.0]}
    partial = {tasks[0]: [1.0], tasks[2]: [2.0]}
    assert whole_seeds(partial, tasks) == partial  # seed 0 is whole, seed 1 has not run
    assert whole_seeds({tasks[0]: [1.0], tasks[1]: [2.0]}, tasks) == {tasks[1]: [2.0]}

    results = logged_runs(log, tasks)
    assert results[tasks[0]] == [9.0, 8.0, 7.0, 6.0]  # kept, not run again
    assert len(results[tasks[1]]) == 4 and len(results[tasks[2]]) == 4
    assert len(log.read_text().splitlines()) == 3
