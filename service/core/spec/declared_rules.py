"""The rules of a declared model (``model.layers``) against the rest of the spec.

Its slots must match the search space and fixed values both ways (an unfilled slot and a name
that is neither a slot nor a training knob are each a 422 naming it), each slot's dimension must
fit every argument it fills, and every configuration the space can reach must build: shapes
that fit from the dataset's input to the task's output, and no more parameters than the server
allows. The reachable configurations are the corners of the numeric slots and every value of a
repeat count or a categorical slot (``sizing.candidate_points``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from service.core.architecture import Architecture, Layer, vocabulary
from service.core.architecture.shapes import Shape
from service.core.architecture.sizing import (
    MAX_CHECKED,
    ascend,
    candidate_points,
    largest_size,
    outputs_for,
    survey,
)
from service.core.architecture.slots import GROUP, unfilled, uses
from service.core.families import GROUP as FAMILY_GROUP
from service.core.spec.dimensions import check_dimension
from service.core.spec.types import Dimension, DimensionType, SpecLimits
from service.core.vocabulary import (
    DECLARED,
    HYPERPARAMETERS,
    Vocabulary,
    configuration,
    defaults,
)

Add = Callable[[str, str], None]
OWN = (GROUP, FAMILY_GROUP)  # the groups of names a model defines itself


def spec_vocabulary(data: Mapping[str, Any]) -> Vocabulary:
    """The loaded spec's vocabulary: the built-in one, its declared model's, or its operator
    family's."""
    model = data["model"]
    if model.plugin is not None:
        return model.plugin.vocabulary
    return HYPERPARAMETERS if model.layers is None else vocabulary(model.layers)[0]


def check_own_names(data: Mapping[str, Any], add: Add) -> int:
    """Each dimension and fixed value of a name the model itself defines (a declared model's
    slot, an operator family's hyperparameter) against what that name accepts; returns how
    many problems were found."""
    hps, found = spec_vocabulary(data), 0
    for name, dim in data["search_space"].items():
        hp = hps.get(name)
        if hp is not None and hp.group in OWN and (problem := check_dimension(name, dim, hp)):
            found += _add_nested(f"search_space.{name}", problem, add)
    for name, value in data["fixed"].items():
        hp = hps.get(name)
        if hp is not None and hp.group in OWN and (reason := hp.check(value)):
            add(f"fixed.{name}", reason[0].upper() + reason[1:] + ".")
            found += 1
    return found


def check_declared(
    data: Mapping[str, Any],
    shape: Shape,
    fixed: Mapping[str, Any],
    limits: SpecLimits | None,
    add: Add,
) -> None:
    """Report every problem of the declared model through ``add(path, message)``. ``fixed``:
    the spec's fixed values with its version's defaults."""
    architecture: Architecture = data["model"].layers
    hps = vocabulary(architecture)[0]  # (its slot problems are reported with the names)
    space: Mapping[str, Dimension] = data["search_space"]
    if check_own_names(data, add):
        return
    found = 0
    counts = _largest_counts(architecture, space, fixed)  # (the values are valid by now)
    for path, message in unfilled(architecture, {*space, *fixed}, counts):
        add(f"model.{path}", message)
        found += 1
    if found:
        return
    info = data["dataset"].info
    if architecture.output_layer and (problem := _output_problem(architecture, info)):
        add(*problem)
        return
    if (problem := _embedding_problem(architecture)) or (
        architecture.reads_tokens and (problem := _tokens_problem(architecture, info))
    ):
        add(*problem)
        return
    candidates = {n: _candidates(d, n in counts) for n, d in space.items() if hps[n].group == GROUP}
    points = candidate_points(candidates)
    shapes, embedded = _input_shapes(data, shape)
    outputs = outputs_for(info.task, info.n_classes)

    def configured(point: Mapping[str, Any]) -> dict[str, Any]:
        return configuration(fixed, point, DECLARED, info.task, info.tabular, hps)

    result = survey(architecture, [configured(p) for p in points], shapes, outputs)
    if result.problem:
        add(f"model.{result.path}", result.problem)
        return
    largest = result.largest
    if len(points) > MAX_CHECKED:  # sampled: climb from the corners to the largest model
        size = functools.partial(largest_size, architecture, shapes=shapes, outputs=outputs)
        for start in points[:2]:
            largest = max(largest, ascend(start, candidates, lambda p: size(configured(p))))
    if limits is not None and largest + embedded > limits.max_model_params:
        add(
            "search_space" if space else "model.layers",
            f"The largest model in this space has {largest + embedded:,} parameters; "
            f"the limit is {limits.max_model_params:,}. Narrow the slots that widen it.",
        )


def _add_nested(path: str, messages: Any, add: Add) -> int:
    if isinstance(messages, dict):
        return sum(_add_nested(f"{path}.{k}", v, add) for k, v in messages.items())
    for message in messages:
        add(path, message)
    return len(messages)


def _largest_counts(
    architecture: Architecture, space: Mapping[str, Dimension], fixed: Mapping[str, Any]
) -> dict[str, int]:
    """The largest value each repeat-count slot can take (0 when it has none)."""
    counts = {}
    for name, found in uses(architecture).items():
        if not any(u.path.endswith(".repeat") for u in found):
            continue
        dim = space.get(name)
        if dim is None:
            counts[name] = int(fixed.get(name) or 0)
        elif dim.type == DimensionType.CATEGORICAL:
            counts[name] = max(int(c) for c in dim.choices or (0,))
        else:
            counts[name] = int(dim.high or 0)
    return counts


def _candidates(dim: Dimension, count: bool) -> Sequence[Any]:
    """A dimension's values worth measuring: every choice, every repeat count, else its ends."""
    if dim.type == DimensionType.CATEGORICAL:
        return list(dim.choices or ())
    if dim.type == DimensionType.INT:
        low, high = int(dim.low or 0), int(dim.high or 0)
        return list(range(low, high + 1)) if count else [low, high]
    return [dim.low, dim.high]


def _input_shapes(data: Mapping[str, Any], shape: Shape) -> tuple[list[Shape], int]:
    """The input shapes the model may meet (a table's width changes with its embeddings) and
    the largest embedding's parameters."""
    info = data["dataset"].info
    dense, columns, rows = info.embedding
    space, fixed = data["search_space"], data["fixed"]
    reachable = reachable_encodings(data)
    if not columns or "embedding" not in reachable:
        return [shape], 0
    searched = space.get("embedding_dim")
    dims = (
        _candidates(searched, False)
        if searched is not None
        else [fixed.get("embedding_dim", defaults()["embedding_dim"])]
    )
    widths = [(dense + columns * int(d),) for d in dims]
    embedded = rows * max(int(d) for d in dims)
    return ([shape] if "one_hot" in reachable else []) + widths, embedded


def reachable_encodings(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """The ``categorical_encoding`` values a spec's trials can use: the searched choices, or the
    fixed value (None: the default)."""
    encoding = data["search_space"].get("categorical_encoding")
    if encoding is not None:
        return tuple(encoding.choices or ())
    return (data["fixed"].get("categorical_encoding"),)


def _output_problem(architecture: Architecture, info: Any) -> tuple[str, str] | None:
    """An ``"output": true`` layer must be the task's output: a Dense layer whose activation
    the loss expects (softmax over several classes, sigmoid for two, linear for regression)."""
    last = architecture.last
    assert isinstance(last, Layer)
    if last.type != "Dense":
        return f"model.{last.path}.type", "The output layer must be a Dense layer."
    wanted = (
        "linear" if info.task != "classification" else
        "softmax" if (info.n_classes or 0) > 2 else "sigmoid"
    )  # fmt: skip
    activation = dict(last.args).get("activation", "linear")
    if activation != wanted:
        return (
            f"model.{last.path}.activation",
            f"This dataset's task needs activation '{wanted}' on the output layer.",
        )
    return None


def _embedding_problem(architecture: Architecture) -> tuple[str, str] | None:
    """An ``Embedding`` reads token ids: only the model's input holds them (the first layer,
    outside any repeat, or a graph node reading ``input``)."""
    readers = architecture.input_readers
    for entry, _ in architecture.walk():
        if isinstance(entry, Layer) and entry.type == "Embedding" and entry not in readers:
            return f"model.{entry.path}.type", (
                "An Embedding reads token ids, which only the model's input holds: make it "
                "the first layer (in a graph, a node reading 'input')."
            )
    return None


def _tokens_problem(architecture: Architecture, info: Any) -> tuple[str, str] | None:
    """An ``Embedding`` reading the input takes its features as token ids, unscaled: every
    other reader would see them unscaled too, and a table's encoded columns are no tokens."""
    readers = architecture.input_readers
    other = next((e for e in readers if not (isinstance(e, Layer) and e.type == "Embedding")), None)
    if other is not None:
        return (
            f"model.{other.path}",
            "When an Embedding reads the input, every layer that "
            "reads it must be one (the features are token ids, not scaled).",
        )
    if info.tabular:
        return (
            f"model.{readers[0].path}",
            "A table's encoded columns are not token ids; "
            "categorical_encoding: embedding embeds its categories.",
        )
    return None
