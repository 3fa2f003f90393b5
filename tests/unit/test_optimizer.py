"""The optimizer interface: deterministic, within bounds, and every surrogate works with the
installed scikit-learn."""

from __future__ import annotations

import math
from typing import Any

import pytest

from service.core.spec import Dimension, load_spec
from service.core.spec.grid import grid_size
from worker.engine.optimizer import (
    LARGE_HISTORY,
    BayesianSearch,
    GridSearch,
    Observation,
    RandomSearch,
    make_suggester,
    surrogate_sample,
)

SPACE = {
    "learning_rate": Dimension("float", 1e-4, 1e-1, log=True),
    "units": Dimension("int", 16, 512, log=True),
    "dropout": Dimension("float", 0.0, 0.5),
    "activation": Dimension("categorical", choices=("relu", "tanh", "sigmoid")),
    "batch_size": Dimension("categorical", choices=(16, 32, 64)),
}


def objective(params: dict[str, Any]) -> float:
    """A smooth stand-in for validation accuracy, best near lr=1e-2, 128 units, dropout 0.1."""
    score = 0.95 - 0.1 * (math.log10(params["learning_rate"]) + 2) ** 2
    score -= 0.05 * (math.log2(params["units"]) - 7) ** 2 / 4 + (params["dropout"] - 0.1) ** 2
    score -= 0.05 * (params["activation"] != "relu")
    return max(0.0, min(1.0, score))


def in_space(params: dict[str, Any]) -> bool:
    for name, dim in SPACE.items():
        value = params[name]
        if dim.type == "categorical":
            if value not in (dim.choices or ()):
                return False
        elif not (dim.low <= value <= dim.high):  # type: ignore[operator]
            return False
        if dim.type == "int" and type(value) is not int:
            return False
    return True


def bayes(
    surrogate: str = "GP",
    acquisition: str = "gp_hedge",
    seed: int = 3,
    generator: str = "random",
    space: dict[str, Dimension] = SPACE,
) -> BayesianSearch:
    return BayesianSearch(
        space,
        seed=seed,
        n_initial=4,
        surrogate=surrogate,
        acquisition=acquisition,
        metric="val_accuracy",
        direction="max",
        generator=generator,
    )


def run(search: Any, trials: int, batch: int = 1) -> list[Observation]:
    done: list[Observation] = []
    while len(done) < trials:
        for params in search.suggest(done, [], min(batch, trials - len(done))):
            done.append(Observation(params, objective(params)))
    return done


def test_random_search_is_deterministic_per_trial_number() -> None:
    first = RandomSearch(SPACE, seed=1).suggest([], [], 5)
    again = RandomSearch(SPACE, seed=1).suggest([], [], 5)
    other = RandomSearch(SPACE, seed=2).suggest([], [], 5)
    assert first == again
    assert first != other
    # trial 3 is the same point whether asked alone or in a batch
    three = RandomSearch(SPACE, seed=1).suggest([Observation(p, 0.5) for p in first[:3]], [], 1)
    assert three == [first[3]]
    assert all(in_space(p) for p in first)


def test_initial_points_are_distinct() -> None:
    points = bayes().suggest([], [], 4)
    assert len({tuple(sorted(p.items())) for p in points}) == 4


@pytest.mark.parametrize("surrogate", ["GP", "RF", "ET", "GBRT", "dummy"])
@pytest.mark.parametrize("acquisition", ["gp_hedge", "EI", "PI", "LCB"])
def test_every_surrogate_and_acquisition_suggests_valid_points(
    surrogate: str, acquisition: str
) -> None:
    done = run(bayes(surrogate, acquisition), 7)
    assert all(in_space(o.params) for o in done)
    batch = bayes(surrogate, acquisition).suggest(done, [], 3)
    assert len(batch) == 3 and all(in_space(p) for p in batch)


def test_same_results_give_same_suggestions() -> None:
    done = run(bayes(), 6)
    assert bayes().suggest(done, [], 2) == bayes().suggest(done, [], 2)


def test_failed_trials_do_not_break_the_search() -> None:
    done = run(bayes(), 5)
    done += [Observation(p, None) for p in bayes().suggest(done, [], 2)]
    nxt = bayes().suggest(done, [], 1)
    assert len(nxt) == 1 and in_space(nxt[0])


def test_cancelled_trials_are_counted_but_not_told_to_the_surrogate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancel stopped them, not their configuration: the surrogate must not learn they
    failed. They still count where points are numbered, so no numbered point repeats."""
    import skopt

    done = run(bayes(), 6)
    cancelled = Observation(bayes().suggest(done, [], 1)[0], None, cancelled=True)
    told: list[list[Any]] = []
    tell = skopt.Optimizer.tell

    def spy(self: Any, x: Any, y: Any, fit: bool = True) -> Any:
        told.append(list(x))
        return tell(self, x, y, fit)

    monkeypatch.setattr(skopt.Optimizer, "tell", spy)
    bayes().suggest([*done, cancelled], [], 1)
    vector = bayes()._vector(cancelled.params)
    assert told and all(vector not in xs for xs in told)
    assert len(told[0]) == len(done)
    monkeypatch.undo()
    failed = Observation(cancelled.params, None)  # a failure is told, as the worst seen
    told.clear()
    monkeypatch.setattr(skopt.Optimizer, "tell", spy)
    bayes().suggest([*done, failed], [], 1)
    assert vector in told[0]
    randoms = RandomSearch(SPACE, seed=1)
    first = randoms.suggest([], [], 3)
    stopped = [Observation(first[0], 0.5), Observation(first[1], None, cancelled=True)]
    assert randoms.suggest(stopped, [], 1) == [first[2]]


def test_pending_trials_are_not_suggested_again() -> None:
    done = run(bayes(), 6)
    pending = bayes().suggest(done, [], 1)
    batch = bayes().suggest(done, pending, 2)
    assert pending[0] not in batch
    assert batch[0] != batch[1]


def test_bayesian_search_beats_its_own_initial_design() -> None:
    done = run(bayes(seed=5), 16)
    initial_best = max(o.value for o in done[:4] if o.value is not None)
    final_best = max(o.value for o in done if o.value is not None)
    assert final_best > initial_best
    assert final_best > 0.9


def test_make_suggester_reads_the_spec(spec: dict[str, Any]) -> None:
    assert isinstance(make_suggester(load_spec(spec)), BayesianSearch)
    spec["search"] = {"strategy": "random", "max_trials": 3}
    assert isinstance(make_suggester(load_spec(spec)), RandomSearch)


@pytest.mark.parametrize(
    "generator", ["center", "random", "sobol", "halton", "hammersly", "lhs", "grid"]
)
def test_every_initial_point_generator(generator: str) -> None:
    first = bayes(generator=generator).suggest([], [], 4)
    assert first == bayes(generator=generator).suggest([], [], 4)  # seeded
    assert all(in_space(p) for p in first)
    assert len({tuple(sorted(p.items())) for p in first}) >= 3
    # asked one at a time, trial k still gets design point k
    done = [Observation(p, objective(p)) for p in first[:2]]
    assert bayes(generator=generator).suggest(done, [], 1) == [first[2]]
    after = bayes(generator=generator).suggest([Observation(p, objective(p)) for p in first], [], 2)
    assert all(in_space(p) for p in after)


def test_the_default_design_starts_at_the_middle_of_the_space(spec: dict[str, Any]) -> None:
    """bench/search_suite.py measured the centre first against random points only."""
    first = bayes(generator="center").suggest([], [], 3)
    assert first[0] == {
        "activation": "relu",  # not numeric: the first choice
        "batch_size": 32,  # numeric choices: the middle one
        "dropout": 0.25,
        "learning_rate": pytest.approx(10**-2.5),  # log: the geometric middle
        "units": 91,  # round(sqrt(16 * 512))
    }
    assert first[1:] == bayes(generator="random").suggest([], [], 3)[1:]
    assert bayes(generator="random").suggest([], [], 1) != first[:1]
    default = make_suggester(load_spec(spec))
    assert isinstance(default, BayesianSearch) and default.generator == "center"


def test_a_warm_start_that_trained_the_middle_does_not_train_it_again() -> None:
    center = bayes(generator="center").suggest([], [], 1)[0]
    tried = [Observation(center, 0.9)]  # one source trial: the design keeps 3 of its 4 points
    first = bayes(generator="center").suggest([], [], 1, prior=tried)[0]
    assert first != center and first == bayes(generator="random").suggest([], [], 1)[0]
    untried = [Observation(bayes(seed=9).suggest([], [], 1)[0], 0.9)]
    assert bayes(generator="center").suggest([], [], 1, prior=untried) == [center]


def test_warm_start_prior_is_learned_from_and_shortens_the_initial_design() -> None:
    prior = run(bayes(seed=9), 8)
    cold = bayes().suggest([], [], 1)
    warm = bayes().suggest([], [], 1, prior=prior)
    assert warm != cold  # 8 earlier results cover the 4 initial points: the surrogate proposes
    assert objective(warm[0]) > 0.5


def test_inactive_parameters_are_told_with_a_stand_in() -> None:
    space = {
        "n_layers": Dimension("int", 1, 3),
        "units_3": Dimension("int", 8, 64),
        "learning_rate": Dimension("float", 1e-4, 1e-1, log=True),
    }
    done = [
        Observation({"n_layers": 1, "learning_rate": 0.01}, 0.9),  # units_3 inactive: absent
        Observation({"n_layers": 3, "units_3": 30, "learning_rate": 0.001}, 0.8),
        Observation({"n_layers": 2, "learning_rate": 0.05}, 0.7),
        Observation({"n_layers": 1, "learning_rate": 0.0005}, 0.6),
        Observation({"n_layers": 3, "units_3": 10, "learning_rate": 0.02}, 0.85),
    ]
    points = bayes(space=space).suggest(done, [], 2)
    assert len(points) == 2 and all(8 <= p["units_3"] <= 64 for p in points)


def test_grid_search_walks_the_whole_grid_once() -> None:
    space = {
        "units": Dimension("int", 1, 3),
        "learning_rate": Dimension("float", 1e-3, 1e-1, log=True, steps=3),
        "activation": Dimension("categorical", choices=("relu", "tanh")),
    }
    assert grid_size(space, 5) == 3 * 3 * 2  # int 1..3 rounds to three values
    search = GridSearch(space, 5, seed=0, sample=False, budget=100)
    points: list[dict[str, Any]] = []
    while batch := search.suggest([Observation(p, 0.5) for p in points], [], 4):
        points += batch
    assert len(points) == 18
    assert len({tuple(sorted(p.items())) for p in points}) == 18
    assert sorted({p["learning_rate"] for p in points}) == pytest.approx([1e-3, 1e-2, 1e-1])


def test_grid_sample_takes_a_seeded_subset() -> None:
    space = {"units": Dimension("int", 1, 100, steps=100)}
    one = GridSearch(space, 5, seed=1, sample=True, budget=10).suggest([], [], 10)
    assert one == GridSearch(space, 5, seed=1, sample=True, budget=10).suggest([], [], 10)
    assert len({p["units"] for p in one}) == 10
    assert GridSearch(space, 5, seed=1, sample=True, budget=10).suggest([], one, 5) == []


@pytest.mark.parametrize("surrogate", ["GP", "RF", "ET", "GBRT"])
def test_long_searches_use_the_quick_surrogate_and_still_find_good_points(
    surrogate: str,
) -> None:
    """Past LARGE_HISTORY trials every surrogate sees a sample of them and samples its
    acquisition; its suggestions stay valid and better than the history's median."""
    history = RandomSearch(SPACE, seed=5).suggest([], [], LARGE_HISTORY + 30)
    done = [Observation(p, objective(p)) for p in history]
    suggested = bayes(surrogate).suggest(done, [], 4)
    assert len(suggested) == 4 and all(in_space(p) for p in suggested)
    median = sorted(o.value for o in done)[len(done) // 2]
    assert max(objective(p) for p in suggested) > median


def test_surrogate_sample_keeps_the_best_half_and_a_spread() -> None:
    done = [Observation({"x": i}, float(i)) for i in range(300)]
    ys = {id(o): -o.value for o in done}  # minimised: the largest values are the best
    sample = surrogate_sample(done, ys, 100)
    values = sorted(o.value for o in sample)
    assert len(sample) == 100 and len({id(o) for o in sample}) == 100
    assert values[-50:] == [float(i) for i in range(250, 300)]
    assert values[0] == 0.0 and values[49] > 200  # the rest spread over the other 250
    assert surrogate_sample(done[:80], ys, 100) == done[:80]


def test_a_batch_starts_with_the_point_asked_alone_and_spreads_out() -> None:
    """The batch fits the kernel once (``constant_liar``): its first point is the one a batch
    of one gets, and the lies push the rest apart."""
    done = run(bayes(), 8)
    alone = bayes().suggest(done, [], 1)
    batch = bayes().suggest(done, [], 6)
    assert batch[0] == alone[0]
    assert len({tuple(sorted(p.items())) for p in batch}) == 6
    assert all(in_space(p) for p in batch)


@pytest.mark.parametrize("surrogate", ["GP", "RF", "ET", "GBRT"])
def test_points_asked_ahead_come_after_the_initial_design(surrogate: str) -> None:
    search = bayes(surrogate)
    done = run(bayes(surrogate), 2)  # two of four initial points finished, none running
    assert search.model_points(done, [], 5) == 3  # the other two initial points come first
    ahead = search.ask_ahead(done, [], 3)
    coming = search.suggest(done, [], 2)  # those two initial points
    assert len(ahead) == 3 and all(in_space(p) for p in ahead)
    assert not any(p in coming for p in ahead)


def test_nothing_is_asked_ahead_without_two_scores_or_a_model() -> None:
    done = [Observation(p, None) for p in bayes().suggest([], [], 4)]  # all failed
    assert bayes().model_points(done, [], 3) == 0
    assert bayes().ask_ahead(done, [], 3) == []
    scored = run(bayes(), 4)
    assert bayes("dummy").model_points(scored, [], 3) == 0
    assert bayes("dummy").ask_ahead(scored, [], 3) == []


def test_a_batch_never_repeats_a_point_told_before() -> None:
    """Two refills at the same step sample the same candidates; the second, with the first's
    points running, must not propose them again (seed 3 did, before candidates equal to a
    told point were left out)."""
    space = {
        "learning_rate": Dimension("float", 1e-4, 1e-1, log=True),
        "units": Dimension("int", 16, 512, log=True),
    }
    for seed in range(6):
        search = bayes(seed=seed, space=space)
        done = [Observation(p, 0.5 + i / 10) for i, p in enumerate(search.suggest([], [], 3))]
        first = search.ask_ahead(done, [], 6)
        second = search.ask_ahead(done, first[:3], 6)
        assert not [p for p in second if p in first[:3]], seed
