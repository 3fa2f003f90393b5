"""A declared model for one configuration: its layers unrolled, its shapes and its size.

``expand`` resolves every slot from a trial's configuration and unrolls the repeats; the worker
builds exactly that list. ``measure`` walks it with ``shapes`` to the head the task needs, and
``largest`` does so over the configurations a search space can reach, so the API refuses an
architecture that cannot fit its input or the server's parameter cap before a worker sees it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.core.architecture.allowlist import LAYER_TYPES
from service.core.architecture.declared import Architecture, Layer, Repeat, Slot
from service.core.architecture.shapes import Shape, ShapeError, merged, output

MAX_CHECKED = 256  # configurations measured per space; beyond, a seeded sample and the corners
MAX_UNROLLED = 512  # layers a configuration may unroll to


@dataclass(frozen=True)
class Built:
    """One layer of an expanded model: its type, its arguments with slots filled, and where it
    was declared."""

    type: str
    kwargs: Mapping[str, Any]
    path: str
    name: str = ""  # a graph node's name and inputs
    inputs: tuple[str, ...] = ()


def expand(architecture: Architecture, config: Mapping[str, Any]) -> list[Built]:
    """The layers ``config`` builds, in order (a repeat's ``NAME_i`` fills its i-th copy).

    Raises:
        ShapeError: when the repeats unroll to more than ``MAX_UNROLLED`` layers.
    """
    built: list[Built] = []
    _expand(architecture.layers, config, None, built)
    return built


def _expand(
    entries: Sequence[Layer | Repeat],
    config: Mapping[str, Any],
    index: int | None,
    built: list[Built],
) -> None:
    for entry in entries:
        if len(built) > MAX_UNROLLED:
            raise ShapeError(f"The repeats unroll to more than {MAX_UNROLLED} layers.", "layers")
        if isinstance(entry, Repeat):
            count = _value(entry.count, config, None)
            for i in range(1, int(count) + 1):
                _expand(entry.layers, config, i, built)
            continue
        args = LAYER_TYPES[entry.type].args
        kwargs = {
            name: _typed(_value(value, config, index), args[name].kind)
            for name, value in entry.args
        }
        built.append(Built(entry.type, kwargs, entry.path, entry.name, entry.inputs))


def _value(value: Any, config: Mapping[str, Any], index: int | None) -> Any:
    if isinstance(value, Layer):  # a Bidirectional's wrapped layer, its slots filled
        args = LAYER_TYPES[value.type].args
        kwargs = {n: _typed(_value(v, config, index), args[n].kind) for n, v in value.args}
        return Built(value.type, kwargs, value.path)
    if not isinstance(value, Slot):
        return value
    name = f"{value.name}_{index}" if value.per_repeat and index is not None else value.name
    found = config.get(name, config.get(value.name))
    if found is None:
        raise KeyError(f"slot {value.name!r} has no value")
    return found


def _typed(value: Any, kind: str) -> Any:
    """A slot's value as its argument takes it (a fixed ``3.0`` fills an int as 3)."""
    if kind in ("int", "window") and isinstance(value, float):
        return int(value)
    return float(value) if kind == "float" and isinstance(value, int) else value


def outputs_for(task: str, n_classes: int | None) -> int:
    """The width of the task's output: one per class, one for two classes or regression."""
    return int(n_classes or 0) if task == "classification" and (n_classes or 0) > 2 else 1


def measure(
    layers: Sequence[Built],
    input_shape: Shape,
    outputs: int,
    output_layer: bool,
    graph_output: str | None = None,
) -> int:
    """The model's parameter count, head included; ``graph_output``: the output node of a
    graph (whose nodes name their inputs).

    Raises:
        ShapeError: naming the layer's path, when a layer cannot take its input or the last
            one does not end where the head (or the task's output) needs.
    """
    shape, total = tuple(input_shape), 0
    shapes = {"input": shape}
    for layer in layers:
        try:
            if graph_output is None:
                shape, params = output(layer.type, layer.kwargs, shape)
            elif LAYER_TYPES[layer.type].inputs != (1, 1):
                given = [shapes[name] for name in layer.inputs]
                shape, params = merged(layer.type, layer.kwargs, given)
            else:
                shape, params = output(layer.type, layer.kwargs, shapes[layer.inputs[0]])
        except ShapeError as exc:
            raise ShapeError(str(exc), layer.path) from None
        if min(shape, default=1) < 1:
            raise ShapeError(f"{layer.type} leaves nothing ({list(shape)}).", layer.path)
        shapes[layer.name] = shape
        total += params
    if graph_output is not None:
        shape = shapes[graph_output]
        layers = [next(layer for layer in layers if layer.name == graph_output)]
    if output_layer:
        if shape != (outputs,):
            raise ShapeError(
                f"The output layer must give [{outputs}] per sample for this dataset's task; "
                f"it gives {list(shape)}.",
                layers[-1].path,
            )
        return total
    if len(shape) != 1:
        raise ShapeError(
            f"The last layer gives {list(shape)}; the output head needs one vector per sample. "
            "End with Flatten or a global pooling.",
            layers[-1].path if layers else "layers",
        )
    return total + (shape[0] + 1) * outputs


@dataclass(frozen=True)
class Survey:
    """What the reachable configurations of a space build: the largest parameter count, and
    the first configuration whose shapes do not fit (with why), if any."""

    largest: int
    problem: str | None = None
    path: str = "layers"


def survey(
    architecture: Architecture,
    configs: Sequence[Mapping[str, Any]],
    input_shapes: Sequence[Shape],
    outputs: int,
) -> Survey:
    """Measure every configuration on every input shape it may meet."""
    largest = 0
    for config, shape in itertools.product(configs, input_shapes):
        try:
            layers = expand(architecture, config)
            last = architecture.outputs[0] if architecture.graph else None
            size = measure(layers, shape, outputs, architecture.output_layer, last)
        except ShapeError as exc:
            shown = {k: v for k, v in sorted(config.items()) if _is_slot(k, architecture)}
            where = f" (with {shown})" if shown else ""
            return Survey(largest, f"{exc}{where}", exc.path)
        largest = max(largest, size)
    return Survey(largest)


def largest_size(
    architecture: Architecture,
    config: Mapping[str, Any],
    *,
    shapes: Sequence[Shape],
    outputs: int,
) -> int:
    """The configuration's largest parameter count over the input shapes (-1 if it does not
    build)."""
    last = architecture.outputs[0] if architecture.graph else None
    try:
        layers = expand(architecture, config)
        return max(
            measure(layers, shape, outputs, architecture.output_layer, last) for shape in shapes
        )
    except ShapeError:
        return -1


def ascend(
    start: Mapping[str, Any],
    candidates: Mapping[str, Sequence[Any]],
    size: Callable[[Mapping[str, Any]], int],
    rounds: int = 8,
) -> int:
    """The largest ``size`` found by moving one name at a time to whichever of its candidate
    values makes the model larger, from ``start``, until no move does. A model's size is not
    monotone in every slot (a larger "valid" kernel shrinks what a Flatten passes on), so a
    sample of a large space alone can miss its largest model."""
    point, best = dict(start), size(start)
    for _ in range(rounds):
        moved = False
        for name, values in candidates.items():
            for value in values:
                if value == point[name]:
                    continue
                trial = {**point, name: value}
                if (found := size(trial)) > best:
                    point, best, moved = trial, found, True
        if not moved:
            break
    return best


def _is_slot(name: str, architecture: Architecture) -> bool:
    base = name.rsplit("_", 1)[0] if name[-1:].isdigit() else name
    return any(
        isinstance(v, Slot) and v.name == base
        for entry, _ in architecture.walk()
        for v in ((entry.count,) if isinstance(entry, Repeat) else dict(entry.args).values())
    )


def candidate_points(
    candidates: Mapping[str, Sequence[Any]], seed: int = 0
) -> list[dict[str, Any]]:
    """Every combination of each name's candidate values, or when that is more than
    ``MAX_CHECKED``, the all-first and all-last corners and a seeded sample of the rest."""
    names = sorted(candidates)
    total = 1
    for name in names:
        total *= max(1, len(candidates[name]))
    if total <= MAX_CHECKED:
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*(candidates[n] for n in names))
        ]
    rng = random.Random(seed)
    points = [{n: candidates[n][0] for n in names}, {n: candidates[n][-1] for n in names}]
    points += [{n: rng.choice(list(candidates[n])) for n in names} for _ in range(MAX_CHECKED)]
    return points
