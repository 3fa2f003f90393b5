"""PNG plots of a job, drawn with matplotlib's Agg canvas (no display, no TensorFlow).

Figures are built as ``matplotlib.figure.Figure`` objects, never through pyplot's global state,
so API threads can draw at the same time.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from service.core.records import JobRecord, TrialRecord, TrialState, trial_numbered
from service.core.spec import Dimension, DimensionType, Strategy

PLOTS = ("convergence", "learning_curves", "objective", "parallel_coordinates", "lr_range")
_SCORED = (TrialState.COMPLETED, TrialState.PRUNED)


class NoPlot(LookupError):
    """This plot does not apply to this job (a range test's curve for a search, ...)."""


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _scored(trials: list[TrialRecord]) -> list[TrialRecord]:
    return [
        t for t in trials if t.state in _SCORED and t.value is not None and math.isfinite(t.value)
    ]


def _objective(job: JobRecord) -> tuple[str, str]:
    objective = job.spec.training.objective
    return objective.metric, objective.direction.value


def convergence(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """Each trial's objective in the order trials finished, and the best so far."""
    metric, direction = _objective(job)
    done = sorted(_scored(trials), key=lambda t: (t.finished_at or 0.0, t.number))
    if not done:
        raise NoPlot("No trial finished with a score.")
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    pick = max if direction == "max" else min
    best = [pick(values[: i + 1]) for i in range(len(values))]
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    xs = list(range(1, len(values) + 1))
    axes.scatter(xs, values, s=18, color="#9aa5b1", label="trial")
    axes.step(xs, best, where="post", color="#d64545", linewidth=2, label="best so far")
    axes.set_xlabel("trials finished")
    axes.set_ylabel(metric)
    axes.set_title(f"Convergence ({direction}imize {metric})")
    axes.grid(alpha=0.3)
    axes.legend()
    return _png(figure)


def learning_curves(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """The best trial's training and validation curves per epoch: where overfitting shows."""
    best = trial_numbered(trials, job.best_trial)
    if best is None:
        raise NoPlot("The job has no best trial.")
    history = best.history
    pairs = [name for name in history if not name.startswith("val_") and f"val_{name}" in history]
    if not pairs:
        raise NoPlot("The best trial recorded no training and validation curves.")
    figure = Figure(figsize=(5 * len(pairs[:3]), 4))
    for i, name in enumerate(pairs[:3]):
        axes = figure.add_subplot(1, len(pairs[:3]), i + 1)
        epochs = range(1, len(history[name]) + 1)
        axes.plot(epochs, history[name], label=f"training {name}", color="#2f80ed")
        axes.plot(
            range(1, len(history[f"val_{name}"]) + 1),
            history[f"val_{name}"],
            label=f"validation {name}",
            color="#d64545",
        )
        axes.set_xlabel("epoch")
        axes.set_title(name)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(f"Learning curves of trial {job.best_trial}")
    return _png(figure)


def _searched(job: JobRecord) -> list[tuple[str, Dimension]]:
    return sorted(job.spec.search_space.items())


def _axis_values(
    name: str, dim: Dimension, trials: list[TrialRecord]
) -> tuple[list[float | None], list[str] | None]:
    """Each trial's value of ``name`` as a number (categories by their index); None: inactive."""
    if dim.type == DimensionType.CATEGORICAL:
        labels = [str(c) for c in dim.choices or ()]
        index = {label: i for i, label in enumerate(labels)}
        return [
            index.get(str(t.params[name])) if name in t.params else None for t in trials
        ], labels
    return [float(t.params[name]) if name in t.params else None for t in trials], None


def objective(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """The objective against each searched hyperparameter, a panel each."""
    metric, _ = _objective(job)
    done = _scored(trials)
    space = _searched(job)
    if not done or not space:
        raise NoPlot("Nothing was searched, or no trial finished with a score.")
    columns = min(3, len(space))
    rows = math.ceil(len(space) / columns)
    figure = Figure(figsize=(4.5 * columns, 3.4 * rows), layout="constrained")
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    for i, (name, dim) in enumerate(space):
        axes = figure.add_subplot(rows, columns, i + 1)
        xs, labels = _axis_values(name, dim, done)
        points = [(x, y) for x, y in zip(xs, values, strict=True) if x is not None]
        if points:
            axes.scatter(*zip(*points, strict=True), s=16, color="#2f80ed", alpha=0.8)
        if labels is not None:
            axes.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        elif dim.log:
            axes.set_xscale("log")
        axes.set_xlabel(name)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
    figure.suptitle(f"{metric} against each searched hyperparameter")
    return _png(figure)


def parallel_coordinates(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """Every scored trial as a line across the searched hyperparameters, coloured by objective."""
    metric, direction = _objective(job)
    done = _scored(trials)
    space = _searched(job)
    if len(done) < 2 or not space:
        raise NoPlot("Needs at least two scored trials and a search space.")
    axes_values: list[list[float | None]] = []
    names = []
    for name, dim in space:
        xs, _ = _axis_values(name, dim, done)
        present = [x for x in xs if x is not None]
        low, high = (min(present), max(present)) if present else (0.0, 1.0)
        if dim.log and present and low > 0:
            xs = [math.log10(x) if x is not None else None for x in xs]
            low, high = math.log10(low), math.log10(high)
        span = (high - low) or 1.0
        axes_values.append([(x - low) / span if x is not None else None for x in xs])
        names.append(name)
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    low, high = min(values), max(values)
    axes_values.append([(v - low) / ((high - low) or 1.0) for v in values])
    names.append(metric)
    figure = Figure(figsize=(max(6, 1.6 * len(names)), 4.5))
    axes = figure.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    order = sorted(range(len(done)), key=lambda i: values[i] if direction == "max" else -values[i])
    for i in order:  # the best drawn last, on top
        ys = [column[i] for column in axes_values]
        xs = [j for j, y in enumerate(ys) if y is not None]
        shade = axes_values[-1][i] if direction == "max" else 1 - (axes_values[-1][i] or 0)
        axes.plot(xs, [ys[j] for j in xs], color=cmap(shade), alpha=0.75, linewidth=1.3)
    axes.set_xticks(range(len(names)), names, rotation=20)
    axes.set_yticks([0, 1], ["low", "high"])
    axes.set_title(f"Trials across the search space (colour: {metric}, brighter is better)")
    axes.grid(axis="x", alpha=0.4)
    return _png(figure)


def lr_range(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """A learning-rate range test: loss against the learning rate, with the suggestion."""
    if job.spec.search.strategy != Strategy.LR_RANGE_TEST or not trials:
        raise NoPlot("Only a job with strategy lr_range_test has a range-test curve.")
    history = trials[0].history
    rates, losses = history.get("learning_rate", []), history.get("loss", [])
    if not rates or not losses:
        raise NoPlot("The range test recorded no curve.")
    figure = Figure(figsize=(7, 4))
    axes = figure.add_subplot()
    count = min(len(rates), len(losses))
    axes.plot(rates[:count], losses[:count], color="#2f80ed")
    axes.set_xscale("log")
    found = job.summary.get("lr_range") or trials[0].details.get("lr_range") or {}
    suggested = found.get("suggested_learning_rate")
    if suggested:
        axes.axvline(suggested, color="#d64545", linestyle="--", label=f"suggested {suggested:.2g}")
        span = found.get("suggested_range") or {}
        if span.get("low") and span.get("high"):
            axes.axvspan(span["low"], span["high"], color="#d64545", alpha=0.1, label="range")
        axes.legend()
    axes.set_xlabel("learning rate")
    axes.set_ylabel("training loss")
    axes.set_title("Learning-rate range test")
    axes.grid(alpha=0.3)
    return _png(figure)


DRAW: dict[str, Callable[[JobRecord, list[TrialRecord]], bytes]] = {
    "convergence": convergence,
    "learning_curves": learning_curves,
    "objective": objective,
    "parallel_coordinates": parallel_coordinates,
    "lr_range": lr_range,
}
