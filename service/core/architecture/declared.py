"""A model declared as layers: the typed form of ``model.layers`` and its parser.

A declaration is a list of layers (an allowlisted Keras type and its arguments) and repeat
blocks (``{"repeat": N, "layers": [...]}``). Any argument, and a repeat's count, may be a slot,
``{"hp": NAME}``, filled from the job's search space or fixed values; a slot inside a repeat is
per repeat by default (``NAME_1`` … ``NAME_k`` may set each repeat's value, as ``units_i`` does
for the built-in MLP), unless ``"per_repeat": false``. Parsing checks every literal with the
layer type's marshmallow schema and reports each problem at its path
(``model.layers[3].filters``); slots are checked against the search space by ``slots``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from service.core.architecture.allowlist import LAYER_TYPES, RECURRENT
from service.core.names import closest

MAX_DECLARED_LAYERS = 64  # entries in a declaration, repeats and their layers counted
MAX_REPEAT = 16
MAX_NESTING = 2  # repeats inside repeats
SLOT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,38}[a-z]$|^[a-z]$")


@dataclass(frozen=True)
class Slot:
    """An argument filled from the search space (or ``fixed``) by name."""

    name: str
    per_repeat: bool = True


@dataclass(frozen=True)
class Layer:
    """One allowlisted layer: its type and its arguments (literals or slots), by name."""

    type: str
    args: tuple[tuple[str, Any], ...]
    path: str
    output: bool = False
    name: str = ""  # a graph node's name (``model.graph``)
    inputs: tuple[str, ...] = ()  # a graph node's inputs: earlier nodes, or "input"


@dataclass(frozen=True)
class Repeat:
    """``layers``, ``count`` times in a row (0 leaves them out)."""

    count: int | Slot
    layers: tuple[Layer | Repeat, ...]
    path: str


@dataclass(frozen=True)
class Architecture:
    """A declared model: hashable, so derived vocabularies and checks can be cached by it.
    A sequence of layers and repeats, or a graph: nodes in order, each naming its inputs, and
    the node that is the model's output (``outputs``, one name)."""

    layers: tuple[Layer | Repeat, ...]
    outputs: tuple[str, ...] = ()

    @property
    def graph(self) -> bool:
        return bool(self.outputs)

    def walk(self) -> Iterator[tuple[Layer | Repeat, tuple[Repeat, ...]]]:
        """Every entry with the repeats it sits in (outermost first)."""
        yield from _walk(self.layers, ())

    @property
    def reads_tokens(self) -> bool:
        """An ``Embedding`` reads the model's input: its features are token ids, not scaled."""
        return any(isinstance(e, Layer) and e.type == "Embedding" for e in self.input_readers)

    @property
    def input_readers(self) -> list[Layer | Repeat]:
        """The layers that read the model's input (the first one, or a graph's readers)."""
        if not self.graph:
            return list(self.layers[:1])
        return [e for e in self.layers if isinstance(e, Layer) and "input" in e.inputs]

    @property
    def output_layer(self) -> bool:
        """The last layer (a graph's output node) is the model's output (``"output": true``):
        no head is added."""
        last = self.last
        return isinstance(last, Layer) and last.output

    @property
    def last(self) -> Layer | Repeat:
        """The layer whose output the head (or the loss) reads."""
        if self.graph:
            named = {n.name: n for n in self.layers if isinstance(n, Layer)}
            return named[self.outputs[0]]
        return self.layers[-1]

    def to_json(self) -> dict[str, Any]:
        """The declaration as a client wrote it (the stored form): ``{"layers": [...]}`` or
        ``{"graph": {...}}``."""
        if not self.graph:
            return {"layers": [_entry_json(entry) for entry in self.layers]}
        nodes = {}
        for node in self.layers:
            assert isinstance(node, Layer)
            data = _entry_json(node)
            nodes[node.name] = {"type": data.pop("type"), "inputs": list(node.inputs), **data}
        return {"graph": {"nodes": nodes, "outputs": list(self.outputs)}}


def _walk(
    entries: tuple[Layer | Repeat, ...], within: tuple[Repeat, ...]
) -> Iterator[tuple[Layer | Repeat, tuple[Repeat, ...]]]:
    for entry in entries:
        yield entry, within
        if isinstance(entry, Repeat):
            yield from _walk(entry.layers, (*within, entry))
        else:  # a Bidirectional's wrapped layer, with its own slots
            yield from ((v, within) for _, v in entry.args if isinstance(v, Layer))


def _value_json(value: Any) -> Any:
    if isinstance(value, Slot):
        return {"hp": value.name} if value.per_repeat else {"hp": value.name, "per_repeat": False}
    if isinstance(value, Layer):
        return _entry_json(value)
    return list(value) if isinstance(value, tuple) else value


def _entry_json(entry: Layer | Repeat) -> dict[str, Any]:
    if isinstance(entry, Repeat):
        inner = [_entry_json(e) for e in entry.layers]
        return {"repeat": _value_json(entry.count), "layers": inner}
    data = {"type": entry.type, **{k: _value_json(v) for k, v in entry.args}}
    return {**data, "output": True} if entry.output else data


def parse_layers(raw: Any) -> Architecture:
    """The typed declaration of ``raw`` (``model.layers`` as JSON).

    Raises:
        ValidationError: keyed by each problem's path below ``model`` (``layers[3].type``).
    """
    errors: dict[str, Any] = {}
    if not isinstance(raw, list) or not raw:
        raise ValidationError({"layers": ["Must be a non-empty list of layers."]})
    parser = Parser(errors)
    layers = parser.entries(raw, "layers", 0)
    if parser.count > MAX_DECLARED_LAYERS:
        errors.setdefault("layers", []).append(
            f"{parser.count} layers and repeats; at most {MAX_DECLARED_LAYERS}."
        )
    for entry in layers[:-1]:
        if isinstance(entry, Layer) and entry.output:
            errors.setdefault(f"{entry.path}.output", []).append(
                "Only the last layer may be the output."
            )
    if errors:
        raise ValidationError(errors)
    return Architecture(layers)


class Parser:
    """Reads layers and repeats, collecting each problem at its path (``errors``)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        self.errors, self.count = errors, 0

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def entries(self, raw: list[Any], path: str, depth: int) -> tuple[Layer | Repeat, ...]:
        parsed: list[Layer | Repeat] = []
        for i, item in enumerate(raw[: MAX_DECLARED_LAYERS + 1]):
            self.count += 1
            entry = self.entry(item, f"{path}[{i}]", depth)
            if entry is not None:
                parsed.append(entry)
        return tuple(parsed)

    def entry(self, item: Any, path: str, depth: int, graph: bool = False) -> Layer | Repeat | None:
        """A layer (a graph's node, with ``graph``: ``graph`` reads its ``inputs``) or a
        repeat."""
        if not isinstance(item, dict):
            self.add(path, 'Must be an object: a layer ({"type": ...}) or a repeat.')
            return None
        if "repeat" in item and not graph:
            return self.repeat(item, path, depth)
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in LAYER_TYPES:
            match = closest(kind, LAYER_TYPES) if isinstance(kind, str) else None
            hint = f" Did you mean {match!r}?" if match else ""
            self.add(
                f"{path}.type",
                f"Not an allowed layer type.{hint} Allowed: {', '.join(LAYER_TYPES)}."
                if kind is not None else "Missing data for required field.",
            )  # fmt: skip
            return None
        output = item.get("output", False)
        if not isinstance(output, bool):
            self.add(f"{path}.output", "Not a valid boolean.")
        args, literals = {}, {}
        slotted: set[str] = set()  # every argument given as a slot, well formed or not
        for name, value in item.items():
            if name in ("type", "output") or (graph and name == "inputs"):
                continue
            if name == "layer" and kind == "Bidirectional":
                wrapped = self.entry(value, f"{path}.layer", depth)
                if isinstance(wrapped, Layer) and wrapped.type in RECURRENT and not wrapped.output:
                    args[name] = wrapped
                elif wrapped is not None:
                    self.add(f"{path}.layer.type", f"Bidirectional wraps {', '.join(RECURRENT)}.")
                slotted.add(name)
            elif isinstance(value, dict):
                slot = self.slot(value, f"{path}.{name}")
                arg = LAYER_TYPES[kind].args.get(name)
                if slot is not None and arg is not None and arg.kind == "shape":
                    self.add(f"{path}.{name}", "A shape cannot be a slot; give it as a list.")
                elif slot is not None:
                    args[name] = slot
                slotted.add(name)
            else:
                literals[name] = value
        layer_type = LAYER_TYPES[kind]
        if layer_type.inputs != (1, 1) and not graph:
            self.add(f"{path}.type", f"{kind} takes several inputs: use it in a model.graph.")
            return None
        unknown = sorted(slotted - set(layer_type.args))
        for name in unknown:
            self.add(f"{path}.{name}", f"Unknown field. {kind} takes: "
                     f"{', '.join(layer_type.args) or 'no arguments'}.")  # fmt: skip
        if unknown:
            return None
        try:
            loaded = layer_type.schema().load(literals, partial=tuple(slotted))
        except ValidationError as exc:
            for name, messages in _messages(exc.messages).items():
                self.add(f"{path}.{name}", " ".join(messages))
            return None
        args.update({k: tuple(v) if isinstance(v, list) else v for k, v in loaded.items()})
        return Layer(kind, tuple(sorted(args.items())), path, bool(output))

    def repeat(self, item: dict[str, Any], path: str, depth: int) -> Repeat | None:
        extra = sorted(set(item) - {"repeat", "layers"})
        for name in extra:
            self.add(f"{path}.{name}", "Unknown field. A repeat has only repeat and layers.")
        if depth >= MAX_NESTING:
            self.add(path, f"Repeats nest at most {MAX_NESTING} deep.")
            return None
        count: int | Slot | None = None
        raw = item["repeat"]
        if isinstance(raw, dict):
            count = self.slot(raw, f"{path}.repeat")  # one count for all: never per repeat
        elif isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= MAX_REPEAT:
            count = raw
        else:
            self.add(f"{path}.repeat", f"Must be an integer from 0 to {MAX_REPEAT} or a slot.")
        inner = item.get("layers")
        if not isinstance(inner, list) or not inner:
            self.add(f"{path}.layers", "Must be a non-empty list of layers.")
            return None
        layers = self.entries(inner, f"{path}.layers", depth + 1)
        if count is None or len(layers) != len(inner):
            return None
        if any(isinstance(e, Layer) and e.output for e in layers):
            self.add(path, "The output layer cannot sit inside a repeat.")
        return Repeat(count, layers, path)

    def slot(self, value: dict[str, Any], path: str) -> Slot | None:
        extra = sorted(set(value) - {"hp", "per_repeat"})
        name, per_repeat = value.get("hp"), value.get("per_repeat", True)
        if extra:
            self.add(path, f'A slot is {{"hp": NAME}} (and per_repeat); unknown: {extra}.')
        elif not isinstance(name, str) or not SLOT_NAME.match(name):
            self.add(
                f"{path}.hp",
                "A slot's name is 1 to 40 lowercase letters, digits and underscores, starting "
                "and ending with a letter.",
            )
        elif not isinstance(per_repeat, bool):
            self.add(f"{path}.per_repeat", "Not a valid boolean.")
        else:
            return Slot(name, per_repeat)
        return None


def _messages(messages: Any) -> dict[str, list[str]]:
    """marshmallow's messages of one layer, one list per argument."""
    out: dict[str, list[str]] = {}
    for name, value in messages.items() if isinstance(messages, dict) else []:
        if isinstance(value, dict):  # a list argument's item messages
            for index, inner in value.items():
                out.setdefault(f"{name}[{index}]", []).extend(inner)
        else:
            out.setdefault(str(name), []).extend(value)
    return out
