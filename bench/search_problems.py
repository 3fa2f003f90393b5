"""The problems of ``bench/search_suite.py``: cheap, offline, and each scored as a number to
minimise, in the style of bayesmark (the benchmark of the NeurIPS 2020 black-box optimisation
challenge).

Three families: scikit-learn models on the datasets scikit-learn bundles, scored by 3-fold
cross-validation (error, or mean squared error); standard synthetic functions with known
minima; and a conditional space like a network's (the width of layer 3 means something only
with three layers), where inactive names are left out of a point as the service leaves them
out of a trial.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from service.core.spec.types import Dimension, DimensionType


def real(low: float, high: float, log: bool = False) -> Dimension:
    return Dimension(DimensionType.FLOAT, low, high, log)


def integer(low: int, high: int, log: bool = False) -> Dimension:
    return Dimension(DimensionType.INT, low, high, log)


def choice(*choices: Any) -> Dimension:
    return Dimension(DimensionType.CATEGORICAL, choices=tuple(choices))


@dataclass(frozen=True)
class Problem:
    """``objective(point)`` to minimise over ``space``; ``optimum`` where it is known;
    ``conditions``: ``{name: (parent, t)}`` where ``name`` means something only when the
    point's ``parent`` is above ``t`` (a layer's width and the number of layers). Declared as
    data, not as a function, so that a library with conditional spaces (SMAC's ConfigSpace)
    can be given them as they are."""

    name: str
    family: str
    space: Mapping[str, Dimension]
    objective: Callable[[Mapping[str, Any]], float]
    optimum: float | None = None
    conditions: Mapping[str, tuple[str, float]] = field(default_factory=dict)

    def active(self, name: str, point: Mapping[str, Any]) -> bool:
        """Whether ``name`` means anything given the rest of ``point``."""
        if name not in self.conditions:
            return True
        parent, above = self.conditions[name]
        return point.get(parent) is not None and point[parent] > above

    def evaluate(self, point: Mapping[str, Any]) -> float:
        return float(self.objective({k: v for k, v in point.items() if self.active(k, point)}))


# -- synthetic functions --------------------------------------------------------------------


def branin(p: Mapping[str, Any]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([
    [10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14],
])  # fmt: skip
_H_P = 1e-4 * np.array([
    [1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381],
])  # fmt: skip


def hartmann6(p: Mapping[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


ACKLEY_SHIFT = np.linspace(-20.0, 20.0, 10)
"""Ackley's minimum moved off the centre of its box, where a design that starts at the centre
would find it at once (a known bias of benchmarks with centred optima)."""


def ackley(p: Mapping[str, Any]) -> float:
    x = np.array([p[f"x{i}"] for i in range(len(p))]) - ACKLEY_SHIFT
    first = -20 * math.exp(-0.2 * math.sqrt(float(np.mean(x**2))))
    return first - math.exp(float(np.mean(np.cos(2 * math.pi * x)))) + 20 + math.e


def network_like(
    log_rate: float, depth_loss: Mapping[int, float], log2_widths: Mapping[int, float], worse: str
) -> Callable[[Mapping[str, Any]], float]:
    """A network-like response: the rate has a best value (``10 ** log_rate``), each active
    layer's width too (``2 ** log2_widths[layer]``), each depth its own cost, and one of the
    two activations costs 0.2; the widths of layers a point does not have are not in it."""

    def objective(p: Mapping[str, Any]) -> float:
        depth = int(p["n_layers"])
        loss = (math.log10(p["learning_rate"]) - log_rate) ** 2 / 2 + depth_loss[depth]
        for layer in range(1, depth + 1):
            loss += (math.log2(p[f"units_{layer}"]) - log2_widths[layer]) ** 2 / 8
        return loss + (0.2 if p["activation"] == worse else 0.0)

    return objective


# two layers best, every optimum near the middle of its range
layered = network_like(-2.5, {1: 0.8, 2: 0.0, 3: 0.3}, {1: 6.0, 2: 5.0, 3: 4.0}, "tanh")
# the best away from the middle of every range: three layers, a low rate, wide then narrow, tanh
layered_deep = network_like(-4.0, {1: 0.6, 2: 0.3, 3: 0.0}, {1: 7.5, 2: 7.0, 3: 3.0}, "relu")


LAYER_WIDTHS = {"units_2": ("n_layers", 1), "units_3": ("n_layers", 2)}
"""A layer's width means something only when the network has that layer."""


# -- scikit-learn models, 3-fold cross-validation -------------------------------------------


@cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")()
    return loaded.data, loaded.target


def cross_validated(dataset: str, build: Callable[[Mapping[str, Any]], Any], regression: bool):
    """The objective: 1 - accuracy (classification) or the mean squared error, over 3 folds
    split the same way for every point."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    def objective(p: Mapping[str, Any]) -> float:
        x, y = _data(dataset)
        folds = (KFold if regression else StratifiedKFold)(3, shuffle=True, random_state=0)
        scoring = "neg_mean_squared_error" if regression else "accuracy"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings of a poor point
            scores = cross_val_score(build(p), x, y, cv=folds, scoring=scoring)
        return float(-np.mean(scores)) if regression else 1.0 - float(np.mean(scores))

    return objective


def _scaled(model: Any) -> Any:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


def _svm(p: Mapping[str, Any]) -> Any:
    from sklearn.svm import SVC

    return _scaled(SVC(C=p["C"], gamma=p["gamma"]))


def _knn(p: Mapping[str, Any]) -> Any:
    from sklearn.neighbors import KNeighborsClassifier

    return _scaled(KNeighborsClassifier(p["n_neighbors"], weights=p["weights"], p=p["p"]))


def _logistic(p: Mapping[str, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression

    weight = None if p["class_weight"] == "none" else "balanced"
    return _scaled(LogisticRegression(C=p["C"], class_weight=weight, max_iter=300))


def _forest(p: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=p["n_estimators"], max_depth=p["max_depth"],
        max_features=p["max_features"], min_samples_leaf=p["min_samples_leaf"], random_state=0,
    )  # fmt: skip


def _boosting(p: Mapping[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=p["learning_rate"], max_leaf_nodes=p["max_leaf_nodes"],
        l2_regularization=p["l2_regularization"], max_iter=p["max_iter"], random_state=0,
    )  # fmt: skip


def _mlp(p: Mapping[str, Any]) -> Any:
    from sklearn.neural_network import MLPClassifier

    return _scaled(
        MLPClassifier(
            (p["hidden"],), alpha=p["alpha"], learning_rate_init=p["learning_rate_init"],
            max_iter=150, random_state=0,
        )
    )  # fmt: skip


def _elastic(p: Mapping[str, Any]) -> Any:
    from sklearn.linear_model import ElasticNet

    return _scaled(ElasticNet(alpha=p["alpha"], l1_ratio=p["l1_ratio"], max_iter=5000))


def problems() -> dict[str, Problem]:
    """Every problem of the suite by name, the cheapest first."""
    found = [
        Problem("branin", "synthetic", {"x1": real(-5, 10), "x2": real(0, 15)}, branin, 0.397887),
        Problem("hartmann6", "synthetic", {f"x{i}": real(0, 1) for i in range(6)}, hartmann6,
                -3.32237),
        Problem("ackley10", "synthetic", {f"x{i}": real(-32.768, 32.768) for i in range(10)},
                ackley, 0.0),
        Problem("layered", "conditional", {
            "n_layers": integer(1, 3), "learning_rate": real(1e-5, 1e-1, log=True),
            "units_1": integer(4, 256, log=True), "units_2": integer(4, 256, log=True),
            "units_3": integer(4, 256, log=True), "activation": choice("relu", "tanh"),
        }, layered, 0.0, LAYER_WIDTHS),
        Problem("layered-deep", "conditional", {
            "n_layers": integer(1, 3), "learning_rate": real(1e-5, 1e-1, log=True),
            "units_1": integer(4, 256, log=True), "units_2": integer(4, 256, log=True),
            "units_3": integer(4, 256, log=True), "activation": choice("relu", "tanh"),
        }, layered_deep, 0.0, LAYER_WIDTHS),
        Problem("knn-wine", "sklearn", {
            "n_neighbors": integer(1, 40), "weights": choice("uniform", "distance"),
            "p": integer(1, 2),
        }, cross_validated("wine", _knn, False)),
        Problem("svm-breast_cancer", "sklearn", {
            "C": real(1e-2, 1e3, log=True), "gamma": real(1e-4, 1.0, log=True),
        }, cross_validated("breast_cancer", _svm, False)),
        Problem("logistic-breast_cancer", "sklearn", {
            "C": real(1e-4, 1e2, log=True), "class_weight": choice("none", "balanced"),
        }, cross_validated("breast_cancer", _logistic, False)),
        Problem("elasticnet-diabetes", "sklearn", {
            "alpha": real(1e-4, 10.0, log=True), "l1_ratio": real(0.0, 1.0),
        }, cross_validated("diabetes", _elastic, True)),
        Problem("mlp-wine", "sklearn", {
            "hidden": integer(2, 64, log=True), "alpha": real(1e-6, 1e-1, log=True),
            "learning_rate_init": real(1e-4, 1e-1, log=True),
        }, cross_validated("wine", _mlp, False)),
        Problem("forest-wine", "sklearn", {
            "n_estimators": integer(5, 60), "max_depth": integer(1, 12),
            "max_features": real(0.1, 1.0), "min_samples_leaf": integer(1, 10),
        }, cross_validated("wine", _forest, False)),
        Problem("boosting-breast_cancer", "sklearn", {
            "learning_rate": real(1e-3, 1.0, log=True), "max_leaf_nodes": integer(2, 48),
            "l2_regularization": real(0.0, 10.0), "max_iter": integer(10, 100),
        }, cross_validated("breast_cancer", _boosting, False)),
    ]  # fmt: skip
    return {problem.name: problem for problem in found}
