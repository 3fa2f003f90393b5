"""A declared model as a graph, for skips and branches: ``model.graph``.

``{"nodes": {NAME: {"type": ..., "inputs": [NAME, ...], ...}}, "outputs": [NAME]}``. Each node
is an allowlisted layer (its arguments and slots as in ``model.layers``) that reads the model's
input (``"input"``) or nodes declared before it, so a graph has no cycles by construction; the
merging layers (``Add``, ``Concatenate``, ``Multiply``, ``Average``...) and
``MultiHeadAttention`` (query, value and optionally key) take several. The one output node
feeds the task's head, or is the output with ``"output": true``. Every node must lead to it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from marshmallow import ValidationError

from service.core.architecture.allowlist import LAYER_TYPES
from service.core.architecture.declared import MAX_DECLARED_LAYERS, Architecture, Layer, Parser

INPUT = "input"
NODE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def parse_graph(raw: Any) -> Architecture:
    """The typed graph of ``raw`` (``model.graph`` as JSON).

    Raises:
        ValidationError: keyed by each problem's path below ``model.graph``
            (``nodes.skip.inputs``).
    """
    errors: dict[str, Any] = {}
    if not isinstance(raw, dict) or set(raw) != {"nodes", "outputs"}:
        raise ValidationError(["Must be an object with nodes and outputs (and nothing else)."])
    nodes, outputs = raw["nodes"], raw["outputs"]
    if not isinstance(nodes, dict) or not nodes:
        raise ValidationError({"nodes": ["Must be a non-empty object of name to layer."]})
    if len(nodes) > MAX_DECLARED_LAYERS:
        raise ValidationError({"nodes": [f"At most {MAX_DECLARED_LAYERS} nodes."]})
    parser = Parser(errors)
    parsed: dict[str, Layer] = {}
    seen: set[str] = set()  # declared, even where a node has its own problem
    for name, item in nodes.items():
        path = f"graph.nodes.{name}"
        if name == INPUT or not NODE_NAME.match(name):
            parser.add(path, f"A node's name is 1 to 40 lowercase letters, digits and "
                       f"underscores, starting with a letter, and not '{INPUT}'.")  # fmt: skip
            continue
        inputs = _inputs(parser, item, path, seen)
        seen.add(name)
        layer = parser.entry(item, path, 0, graph=True)
        if isinstance(layer, Layer) and inputs is not None:
            low, high = LAYER_TYPES[layer.type].inputs
            if not low <= len(inputs) <= high:
                takes = str(low) if low == high else f"{low} to {high}"
                parser.add(f"{path}.inputs", f"{layer.type} takes {takes} inputs.")
            parsed[name] = dataclasses.replace(layer, name=name, inputs=tuple(inputs))
    one = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else None
    if not isinstance(one, str) or one not in nodes:
        parser.add("graph.outputs", "Give one node's name: the model's output.")
    elif outputs[0] in parsed and not errors:
        _check_reach(parser, parsed, outputs[0])
    if errors:
        raise ValidationError(errors)
    return Architecture(tuple(parsed.values()), outputs=(outputs[0],))


def _inputs(parser: Parser, item: Any, path: str, earlier: set[str]) -> list[str] | None:
    inputs = item.get("inputs") if isinstance(item, dict) else None
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        parser.add(f"{path}.inputs", f"Must be a non-empty list of node names (or '{INPUT}').")
        return None
    unknown = [i for i in inputs if i != INPUT and i not in earlier]
    if unknown:
        parser.add(
            f"{path}.inputs",
            f"{unknown} are not nodes declared before this one; a node reads '{INPUT}' or "
            "earlier nodes.",
        )
        return None
    return inputs


def _check_reach(parser: Parser, nodes: dict[str, Layer], output: str) -> None:
    """Every node leads to the output, and only the output may say ``"output": true``."""
    used, todo = set(), [output]
    while todo:
        name = todo.pop()
        if name in used or name == INPUT:
            continue
        used.add(name)
        todo.extend(nodes[name].inputs)
    for name, node in nodes.items():
        if name not in used:
            parser.add(f"graph.nodes.{name}", f"Does not lead to the output node '{output}'.")
        elif node.output and name != output:
            parser.add(f"graph.nodes.{name}.output", "Only the output node may be the output.")
