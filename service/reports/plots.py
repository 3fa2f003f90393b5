"""PNG plots of a job, drawn with matplotlib's Agg canvas (no display, no TensorFlow).

Figures are built as ``matplotlib.figure.Figure`` objects, never through pyplot's global state,
so API threads can draw at the same time.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, StrMethodFormatter

from service.core.pareto import job_front
from service.core.records import JobRecord, TrialRecord, TrialState, trial_numbered
from service.core.spec import Dimension, DimensionType, Strategy

_SCORED = (TrialState.COMPLETED, TrialState.PRUNED)


class NoPlot(LookupError):
    """This plot does not apply to this job (a range test's curve for a search, ...)."""


PRUNED_STYLE = {"marker": "x", "color": "#f2994a", "s": 28, "label": "pruned (partial value)"}


def _mark(axes: Axes, points: list[tuple[float, float, bool]], color: str, label: str) -> None:
    """Trials as dots, the pruned ones (stopped early: their value is partial) as crosses."""
    full = [(x, y) for x, y, pruned in points if not pruned]
    cut = [(x, y) for x, y, pruned in points if pruned]
    if full:
        axes.scatter(*zip(*full, strict=True), s=18, color=color, alpha=0.8, label=label)
    if cut:
        axes.scatter(*zip(*cut, strict=True), **PRUNED_STYLE)


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
    pruned = [t.state == TrialState.PRUNED for t in done]
    _mark(axes, list(zip(xs, values, pruned, strict=True)), "#9aa5b1", "trial")
    axes.step(xs, best, where="post", color="#d64545", linewidth=2, label="best so far")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    folds = f" (mean over {best.folds} folds)" if best.folds > 1 else ""
    figure.suptitle(f"Learning curves of trial {job.best_trial}{folds}")
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
    pruned = [t.state == TrialState.PRUNED for t in done]
    for i, (name, dim) in enumerate(space):
        axes = figure.add_subplot(rows, columns, i + 1)
        xs, labels = _axis_values(name, dim, done)
        points = [
            (x, y, cut) for x, y, cut in zip(xs, values, pruned, strict=True) if x is not None
        ]
        _mark(axes, points, "#2f80ed", "trial")
        if labels is not None:
            axes.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        elif dim.log:
            axes.set_xscale("log")
            if dim.type == DimensionType.INT:  # 16, 32, 64 rather than 2x10^1
                axes.xaxis.set_major_locator(LogLocator(base=2, subs=(1.0, 1.5)))
                axes.xaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))
                axes.xaxis.set_minor_formatter(NullFormatter())
        elif dim.type == DimensionType.INT:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel(name)
        axes.set_ylabel(metric)
        axes.grid(alpha=0.3)
    if any(pruned):
        figure.legend(*figure.axes[0].get_legend_handles_labels(), loc="outside lower center")
    figure.suptitle(f"{metric} against each searched hyperparameter")
    return _png(figure)


def parallel_coordinates(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """Every scored trial as a line across the searched hyperparameters, coloured by objective
    (a colour bar gives its scale); each axis shows its real values, pruned trials dashed."""
    metric, direction = _objective(job)
    done = _scored(trials)
    space = _searched(job)
    if len(done) < 2 or not space:
        raise NoPlot("Needs at least two scored trials and a search space.")
    columns = [_parallel_axis(name, dim, done) for name, dim in space]
    values = [float(t.value) for t in done]  # type: ignore[arg-type]
    low, high = min(values), max(values)
    figure = Figure(figsize=(max(6.5, 1.9 * len(columns) + 1.5), 4.8), layout="constrained")
    axes = figure.add_subplot()
    cmap = matplotlib.colormaps["viridis" if direction == "max" else "viridis_r"]
    norm = Normalize(low, high if high > low else low + 1e-9)
    order = sorted(range(len(done)), key=lambda i: values[i] if direction == "max" else -values[i])
    for i in order:  # the best drawn last, on top
        ys = [column.positions[i] for column in columns]
        xs = [j for j, y in enumerate(ys) if y is not None]
        style = "--" if done[i].state == TrialState.PRUNED else "-"
        axes.plot(xs, [ys[j] for j in xs], style, color=cmap(norm(values[i])), alpha=0.8,
                  linewidth=1.3)  # fmt: skip
    for j, column in enumerate(columns):
        axes.axvline(j, color="#52606d", linewidth=0.8)
        for position, label in column.ticks:
            axes.text(j + 0.04, position, label, fontsize=7.5, va="center", color="#323f4b")
    axes.set_xticks(range(len(columns)), [c.name for c in columns], rotation=15)
    axes.set_xlim(-0.2, len(columns) - 0.5)
    axes.set_ylim(-0.05, 1.05)
    axes.set_yticks([])
    bar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, pad=0.02)
    bar.set_label(f"{metric} ({direction}imized)")
    title = "Trials across the search space"
    if any(t.state == TrialState.PRUNED for t in done):
        title += " (dashed: pruned)"
    axes.set_title(title)
    return _png(figure)


class _ParallelAxis:
    """One searched hyperparameter as a vertical axis: each trial's position on it (0 to 1,
    None where inactive) and a few ticks with their real values."""

    def __init__(self, name: str, positions: list[float | None], ticks: list[tuple[float, str]]):
        self.name, self.positions, self.ticks = name, positions, ticks


def _parallel_axis(name: str, dim: Dimension, trials: list[TrialRecord]) -> _ParallelAxis:
    xs, labels = _axis_values(name, dim, trials)
    if labels is not None:
        span = max(len(labels) - 1, 1)
        positions = [x / span if x is not None else None for x in xs]
        return _ParallelAxis(name, positions, [(i / span, label) for i, label in enumerate(labels)])
    low, high = float(dim.low or 0.0), float(dim.high or 1.0)
    scale = (lambda v: math.log10(v)) if dim.log and low > 0 else (lambda v: v)
    bottom, top = scale(low), scale(high)
    span = (top - bottom) or 1.0
    positions = [(scale(x) - bottom) / span if x is not None else None for x in xs]
    marks = [low, high] if dim.type == DimensionType.INT and high - low < 2 else None
    marks = marks or [
        low + (high - low) * f if not (dim.log and low > 0) else low * (high / low) ** f
        for f in (0.0, 0.5, 1.0)
    ]
    ticks = [((scale(m) - bottom) / span, _number(m, dim)) for m in marks]
    return _ParallelAxis(name, positions, ticks)


def _number(value: float, dim: Dimension) -> str:
    if dim.type == DimensionType.INT:
        return str(round(value))
    return f"{value:.3g}"


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


def pareto(job: JobRecord, trials: list[TrialRecord]) -> bytes:
    """The completed trials on the first two objectives, the Pareto front over all of them
    marked, numbered and joined in order of the second."""
    objectives = job.spec.training.objectives
    if not objectives:
        raise NoPlot("Only a job with several objectives has a Pareto front.")
    found = job_front(trials, objectives)
    if found is None:
        raise NoPlot("No completed trial measured every objective yet.")
    (first, second), signs = objectives[:2], [1 if o.direction == "min" else -1 for o in objectives]
    values = {n: [s * c for s, c in zip(signs, p, strict=True)] for n, p in found.points.items()}
    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    rest = [v for n, v in values.items() if n not in found.trials]
    if rest:
        axes.scatter([v[1] for v in rest], [v[0] for v in rest], s=18, color="#9aa5b1",
                     alpha=0.8, label="trial")  # fmt: skip
    ahead = sorted(found.trials, key=lambda n: signs[1] * values[n][1])
    xs, ys = [values[n][1] for n in ahead], [values[n][0] for n in ahead]
    if len(objectives) == 2:  # the region it dominates; with more, the view is a projection
        axes.step(xs, ys, where="post", color="#d64545", linewidth=1, alpha=0.6)
    axes.scatter(xs, ys, s=34, color="#d64545", zorder=3, label="Pareto front")
    for n, x, y in zip(ahead, xs, ys, strict=True):
        axes.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    every = [v[1] for v in values.values()]
    if min(every) > 0 and max(every) / min(every) > 50:
        axes.set_xscale("log")
    axes.set_xlabel(f"{second.metric} ({second.direction.value}imize)")
    axes.set_ylabel(f"{first.metric} ({first.direction.value}imize)")
    over = f" over all {len(objectives)} objectives, seen on two" if len(objectives) > 2 else ""
    axes.set_title(f"Pareto front{over}: hypervolume {found.normalised:.1%} of the box")
    axes.grid(alpha=0.3)
    axes.legend()
    return _png(figure)


DRAW: dict[str, Callable[[JobRecord, list[TrialRecord]], bytes]] = {
    "convergence": convergence,
    "learning_curves": learning_curves,
    "objective": objective,
    "parallel_coordinates": parallel_coordinates,
    "lr_range": lr_range,
    "pareto": pareto,
}
