"""The search suite's problems (``bench/search_problems.py``) are the functions they are named
after: the synthetic ones reach their published minima where the literature puts them, and
every problem scores a point of its own space as a finite number."""

from __future__ import annotations

import math

import pytest

from bench.search_problems import ACKLEY_SHIFT, Problem, problems, real
from worker.engine.optimizer import RandomSearch

SUITE = problems()


HARTMANN6_MINIMUM = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
LAYERED_BEST = {
    "n_layers": 2, "learning_rate": 10**-2.5, "units_1": 64, "units_2": 32, "units_3": 4,
    "activation": "relu",
}  # fmt: skip
# 181 is 2**7.5 rounded to the int the space holds: a loss of 7e-9
LAYERED_DEEP_BEST = {
    "n_layers": 3, "learning_rate": 1e-4, "units_1": 181, "units_2": 128, "units_3": 8,
    "activation": "tanh",
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "point"),
    [
        ("branin", {"x1": math.pi, "x2": 2.275}),
        ("hartmann6", {f"x{i}": x for i, x in enumerate(HARTMANN6_MINIMUM)}),
        ("ackley10", {f"x{i}": float(x) for i, x in enumerate(ACKLEY_SHIFT)}),
        ("layered", LAYERED_BEST),
        ("layered-deep", LAYERED_DEEP_BEST),
    ],
)
def test_synthetic_minima(name: str, point: dict) -> None:
    problem = SUITE[name]
    assert problem.evaluate(point) == pytest.approx(problem.optimum, abs=1e-5)


def test_ackley_has_its_minimum_off_the_middle_of_its_box() -> None:
    """A design that starts at the centre must not find it at once."""
    problem = SUITE["ackley10"]
    assert problem.evaluate({f"x{i}": 0.0 for i in range(10)}) > 19.0


def test_a_name_the_point_makes_inactive_is_left_out() -> None:
    seen = []
    problem = Problem(
        "probe", "conditional", {"a": real(0, 1), "b": real(0, 1)},
        lambda point: seen.append(dict(point)) or 0.0,
        conditions={"b": ("a", 0.5)},
    )  # fmt: skip
    problem.evaluate({"a": 0.2, "b": 0.9})
    problem.evaluate({"a": 0.7, "b": 0.9})
    assert seen == [{"a": 0.2}, {"a": 0.7, "b": 0.9}]


@pytest.mark.parametrize("name", [n for n, p in SUITE.items() if p.family == "sklearn"])
def test_each_model_scores_a_point_of_its_space(name: str) -> None:
    problem = SUITE[name]
    point = RandomSearch(problem.space, seed=0).suggest([], [], 1)[0]
    value = problem.evaluate(point)
    assert math.isfinite(value) and value >= 0.0
    if "diabetes" not in name:  # classification: an error rate
        assert value <= 1.0
