"""Other libraries' searches on the problems of ``bench/search_suite.py``, each driven as its
documentation shows, with its own defaults, through the same loop of trials as tuneq's (the
same budget and evaluation; the oldest running trial finishes first).

- ``optuna-tpe``: Optuna's TPE, with its constant liar when trials run at once.
- ``optuna-gp``: Optuna's GP sampler (needs PyTorch), told that the objective is
  deterministic, as every problem of the suite is; it accounts for running trials itself.
  Both Optuna samplers are define-by-run: a conditional name is asked for only when the point
  so far makes it active.
- ``smac``: SMAC3's ``HyperparameterOptimizationFacade`` (a random forest, SMAC's choice for
  hyperparameter optimisation), with the problem's conditions declared to ConfigSpace. With
  trials running it only avoids proposing one of them again.
- ``hebo``: HEBO, the NeurIPS 2020 black-box optimisation challenge's winner (a GP with input
  and output warping, an ensemble of acquisitions). It knows only whole synchronous batches,
  not a trial still running, so it runs one trial at a time only; and it has no conditional
  spaces, so it sees a flat one (an inactive name's value is dropped before evaluation).

None of them is needed to run tuneq: install them for the benchmark alone (see the README's
search-quality section). HEBO 0.3.6 declares ``numpy<1.25`` and ``pymoo==0.6.0`` but runs with
the newer ones tuneq installs, so it is installed with ``--no-deps``.
"""

from __future__ import annotations

import importlib.util
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.search_problems import Problem

SEQUENTIAL_ONLY = {"hebo"}
"""Peers that cannot be told about trials still running."""
ON_REQUEST = {"smac", "hebo"}
"""Peers that a run includes only when ``--methods`` names them: a suggestion costs them about
a second (SMAC, refitted every trial) to several (HEBO), where the others take milliseconds,
so they would make the suite's default run of 20 seeds many hours long on two cores."""


def available() -> list[str]:
    """The peers installed here, in the order the suite reports them."""
    found = []
    if importlib.util.find_spec("optuna") is not None:
        found.append("optuna-tpe")
        if importlib.util.find_spec("torch") is not None:  # Optuna's GP sampler needs it
            found.append("optuna-gp")
    if importlib.util.find_spec("smac") is not None:
        found.append("smac")
    if importlib.util.find_spec("hebo") is not None:
        found.append("hebo")
    return found


def ask_tell(ask: Callable[[], tuple[Any, dict]], tell: Callable[[Any, float], None],
              problem: Problem, budget: int, running: int) -> list[float]:  # fmt: skip
    """The suite's loop of trials, tuneq's and every peer's: up to ``running`` asked and not
    told, the oldest told first; the objective of each trial in the order the trials
    finished."""
    values: list[float] = []
    pending: list[tuple[Any, dict]] = []
    while len(values) < budget:
        while len(pending) < running and len(values) + len(pending) < budget:
            pending.append(ask())
        handle, point = pending.pop(0)
        value = problem.evaluate(point)
        tell(handle, value)
        values.append(value)
    return values


def run_optuna(problem: Problem, method: str, seed: int, budget: int, running: int) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "optuna-tpe":
        sampler: Any = optuna.samplers.TPESampler(seed=seed, constant_liar=running > 1)
    else:
        sampler = optuna.samplers.GPSampler(seed=seed, deterministic_objective=True)
    study = optuna.create_study(sampler=sampler)

    def ask() -> tuple[Any, dict]:
        trial = study.ask()
        return trial, _suggest_optuna(trial, problem)

    return ask_tell(ask, study.tell, problem, budget, running)


def _suggest_optuna(trial: Any, problem: Problem) -> dict[str, Any]:
    """Define-by-run: a name is asked for only when the point so far makes it active."""
    point: dict[str, Any] = {}
    for name in sorted(problem.space, key=lambda n: n in problem.conditions):  # parents first
        if not problem.active(name, {**point, name: None}):
            continue
        dim = problem.space[name]
        if dim.type == "categorical":
            point[name] = trial.suggest_categorical(name, list(dim.choices or ()))
        elif dim.type == "int":
            point[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
        else:
            point[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
    return point


def run_smac(problem: Problem, method: str, seed: int, budget: int, running: int) -> list:
    """SMAC3 as its ask-and-tell example drives it. Its model is refitted after every trial
    (``retrain_after=1``, as SMAC's own black-box facade does): the hyperparameter facade's
    default of 8 would make a 25-trial search three batches of 8 from one model."""
    from smac import HyperparameterOptimizationFacade as Facade
    from smac import Scenario
    from smac.runhistory.dataclasses import TrialValue

    with tempfile.TemporaryDirectory(prefix="tuneq-smac-") as scratch:
        scenario = Scenario(
            _config_space(problem, seed), deterministic=True, n_trials=budget, seed=seed,
            output_directory=Path(scratch),
        )  # fmt: skip
        smac = Facade(
            scenario,
            target_function=lambda config, seed=0: 0.0,  # required, never called by ask/tell
            config_selector=Facade.get_config_selector(scenario, retrain_after=1),
            overwrite=True,
            logging_level=40,
        )

        def ask() -> tuple[Any, dict]:
            info = smac.ask()
            return info, _typed(problem, dict(info.config))

        def tell(info: Any, value: float) -> None:
            smac.tell(info, TrialValue(cost=value), save=False)

        return ask_tell(ask, tell, problem, budget, running)


def _config_space(problem: Problem, seed: int) -> Any:
    """The problem's space in ConfigSpace's terms, its conditions included."""
    from ConfigSpace import Categorical, ConfigurationSpace, Float, GreaterThanCondition, Integer

    space = ConfigurationSpace(seed=seed)
    hyperparameters = {}
    for name, dim in problem.space.items():
        if dim.type == "categorical":
            hyperparameters[name] = Categorical(name, list(dim.choices or ()))
        elif dim.type == "int":
            hyperparameters[name] = Integer(name, (int(dim.low), int(dim.high)), log=dim.log)
        else:
            hyperparameters[name] = Float(name, (dim.low, dim.high), log=dim.log)
    space.add(list(hyperparameters.values()))
    for name, (parent, above) in problem.conditions.items():
        space.add(GreaterThanCondition(hyperparameters[name], hyperparameters[parent], above))
    return space


def run_hebo(problem: Problem, method: str, seed: int, budget: int, running: int) -> list:
    """HEBO with its defaults, seeded: its random points and GP through NumPy's and PyTorch's
    global generators, its evolutionary search of the acquisitions through pymoo, which
    HEBO leaves unseeded (each call would draw from the OS) and which gets a seed drawn from
    NumPy's seeded generator here."""
    if running > 1:
        raise ValueError("HEBO runs one trial at a time only")
    import hebo.acq_optimizers.evolution_optimizer as evolution
    import numpy as np
    import torch
    from hebo.design_space.design_space import DesignSpace
    from hebo.optimizers.hebo import HEBO

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    evolution.minimize = _seeded_minimize
    optimizer = HEBO(DesignSpace().parse(_hebo_space(problem)), scramble_seed=seed)

    def ask() -> tuple[Any, dict]:
        frame = optimizer.suggest(n_suggestions=1)
        return frame, _typed(problem, frame.iloc[0].to_dict())

    def tell(frame: Any, value: float) -> None:
        optimizer.observe(frame, np.array([[value]]))

    return ask_tell(ask, tell, problem, budget, running)


def _seeded_minimize(*args: Any, **kwargs: Any) -> Any:
    import numpy as np
    from pymoo.optimize import minimize

    return minimize(*args, seed=int(np.random.randint(2**31 - 1)), **kwargs)


def _hebo_space(problem: Problem) -> list[dict[str, Any]]:
    """HEBO's parameter declarations: ``pow`` and ``pow_int`` are its log scales."""
    out: list[dict[str, Any]] = []
    for name, dim in problem.space.items():
        if dim.type == "categorical":
            labels = [str(c) for c in dim.choices or ()]
            out.append({"name": name, "type": "cat", "categories": labels})
        elif dim.type == "int":
            kind = "pow_int" if dim.log else "int"
            out.append({"name": name, "type": kind, "lb": int(dim.low), "ub": int(dim.high)})
        else:
            kind = "pow" if dim.log else "num"
            out.append({"name": name, "type": kind, "lb": dim.low, "ub": dim.high})
    return out


def _typed(problem: Problem, row: dict[str, Any]) -> dict[str, Any]:
    """A peer's point with each value as the problem's space has it: a library's numbers
    arrive as NumPy scalars, and HEBO's row of a frame with no text column has its integers
    as floats (``3.0``), which scikit-learn's integer parameters refuse; choices arrive as
    labels."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        dim = problem.space[name]
        if dim.type == "categorical":
            out[name] = {str(c): c for c in dim.choices or ()}[str(value)]
        elif dim.type == "int":
            out[name] = round(float(value))
        else:
            out[name] = float(value)
    return out


RUNNERS: dict[str, Callable[[Problem, str, int, int, int], list]] = {
    "optuna-tpe": run_optuna, "optuna-gp": run_optuna, "smac": run_smac, "hebo": run_hebo,
}  # fmt: skip
