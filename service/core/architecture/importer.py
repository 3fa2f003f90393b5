"""An existing Keras model's architecture, read as plain JSON into the declared form.

``model.to_json()`` (or a ``.keras`` archive's ``config.json``) is walked as data: each layer's
``class_name`` must be an allowlisted type from Keras itself (no ``Lambda``, no custom or
registered class, no nested model), and its config is mapped onto the allowlist's arguments,
which are then checked like a client's declaration. Nothing here imports Keras or calls a
deserializer, so a hostile document can only be refused. Weights are never read.

What the declared form cannot say is refused rather than silently changed, naming the layer:
a setting that changes what the layer computes or how many weights it has (``data_format``,
``groups``, ``use_bias`` where the allowlist has no such argument, ``return_state``...).
What tuneq sets itself is dropped: regularizers and constraints with a note (L1/L2 are the
``l1``/``l2`` hyperparameters), and silently initializers other than the kernel's, seeds, names
and dtypes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from marshmallow import ValidationError

from service.core.architecture.allowlist import LAYER_TYPES
from service.core.architecture.declared import Parser, parse_layers
from service.core.architecture.graph import INPUT, parse_graph
from service.core.vocabulary import INITIALIZERS

_MODELS = ("Sequential", "Functional", "Model")
# settings the declared form cannot express: each must be at Keras's default where the
# allowlist has no argument of that name
_MUST_BE: dict[str, Any] = {
    "data_format": "channels_last", "groups": 1, "use_bias": True, "return_state": False,
    "go_backwards": False, "stateful": False, "time_major": False, "lora_rank": None,
    "noise_shape": None, "output_shape": None, "attention_axes": None, "center": True,
    "scale": True, "recurrent_activation": "sigmoid", "reset_after": True,
    "unit_forget_bias": True, "width_factor": None, "activity_regularizer": None,
    "rms_scaling": False, "synchronized": False, "renorm": False, "mask_zero": False,
    "interpolation": "bilinear", "fill_value": 0.0, "value_range": [0, 255],
    "use_causal_mask": False,
}  # fmt: skip
_WINDOWS = ("kernel_size", "strides", "pool_size", "dilation_rate")
_FACTORS = ("factor", "height_factor", "width_factor")
# what Keras writes for a default once the layer is built ([steps, features]: axis 1)
_SAME = (("attention_axes", [1]), ("attention_axes", (1,)))
_NOTED = ("kernel_regularizer", "bias_regularizer", "recurrent_regularizer",
          "depthwise_regularizer", "pointwise_regularizer", "kernel_constraint",
          "bias_constraint", "recurrent_constraint", "depthwise_constraint",
          "pointwise_constraint")  # fmt: skip


def import_keras(document: Any) -> dict[str, Any]:
    """``{"model": {"layers": [...] or "graph": {...}, "input_shape": [...]}, "notes": [...]}``
    for a Keras model's JSON document: ``model`` is a job's model, ready for slots, and checked
    as one.

    Raises:
        ValidationError: keyed by the path of what cannot be imported (``config.layers[3]``
            names the document's fourth layer, with its Keras name in the message).
    """
    try:
        imported = _import(document)
    except (TypeError, AttributeError, KeyError, IndexError) as exc:  # a value of a wrong type
        raise ValidationError({"body": [f"Not a Keras model document: {exc}"[:300]]}) from None
    model = imported["model"]
    try:  # what a job would be refused for, refused here (too many nodes, a merge of 200...)
        parse_graph(model["graph"]) if "graph" in model else parse_layers(model["layers"])
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationError({f"model.{k}": v for k, v in messages.items()}) from None
    return imported


def _import(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or document.get("class_name") not in _MODELS:
        raise ValidationError(
            {
                "class_name": [
                    "Not a Keras model document: expected a "
                    "Sequential or functional model's to_json()."
                ]
            }
        )
    _check_origin(document, "model")
    config = document.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list) or not layers:
        raise ValidationError({"config.layers": ["Must be a non-empty list of layers."]})
    notes: list[str] = []
    if document["class_name"] == "Sequential":
        return _sequential(layers, notes)
    return _functional(config, layers, notes)


def _check_origin(entry: dict[str, Any], path: str) -> None:
    module, registered = entry.get("module"), entry.get("registered_name")
    if (module is not None and not str(module).startswith("keras")) or registered not in (
        None, entry.get("class_name"),
    ):  # fmt: skip
        raise ValidationError({path: [f"{entry.get('class_name')!r} from {module!r} "
                                      f"({registered!r}) is not a Keras layer."]})  # fmt: skip


def _sequential(entries: list[Any], notes: list[str]) -> dict[str, Any]:
    shape = None
    declared = []
    for i, entry in enumerate(entries):
        path = f"config.layers[{i}]"
        if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
            shape = _input_shape(entry, path)
            continue
        declared.append(_layer(entry, path, notes))
    if not declared:
        raise ValidationError({"config.layers": ["The model has no layers besides its input."]})
    declared[-1]["output"] = True  # the model's own output layer
    if shape is None and isinstance(entries[0], dict):
        built = (entries[0].get("build_config") or {}).get("input_shape")
        shape = _shape_list(built, "config.layers[0].build_config")
    model = {"layers": declared, **({"input_shape": shape} if shape else {})}
    return {"model": model, "notes": notes}


def _functional(config: dict[str, Any], entries: list[Any], notes: list[str]) -> dict[str, Any]:
    names: dict[str, str] = {}
    nodes: dict[str, Any] = {}
    shape = None
    for i, entry in enumerate(entries):
        path = f"config.layers[{i}]"
        if not isinstance(entry, dict):
            raise ValidationError({path: ["Must be a layer object."]})
        keras_name = str(entry.get("name") or (entry.get("config") or {}).get("name") or i)
        if entry.get("class_name") == "InputLayer":
            if shape is not None:
                raise ValidationError({path: ["A declared model takes one input."]})
            shape, names[keras_name] = _input_shape(entry, path), INPUT
            continue
        layer = _layer(entry, path, notes)
        inputs = [names.get(n) for n in _inbound(entry, path)]
        if None in inputs or not inputs:
            raise ValidationError({path: [f"Layer {keras_name!r} reads a tensor of a layer "
                                          "that is not before it, or reads none."]})  # fmt: skip
        node = _node_name(keras_name, set(nodes))
        names[keras_name] = node
        nodes[node] = {"type": layer.pop("type"), "inputs": inputs, **layer}
    outputs = config.get("output_layers")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], str):
        outputs = [outputs]  # one output is written as its own history
    output = _tensor_name(outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else None)
    if output not in names or names[output] == INPUT:
        raise ValidationError({"config.output_layers": ["A declared model has one output, a "
                                                        "layer of the model."]})  # fmt: skip
    nodes[names[output]]["output"] = True
    graph = {"nodes": nodes, "outputs": [names[output]]}
    model = {"graph": graph, **({"input_shape": shape} if shape else {})}
    return {"model": model, "notes": notes}


def _inbound(entry: dict[str, Any], path: str) -> list[str]:
    """The layer names a functional layer reads, in call order (query, value, key)."""
    calls = entry.get("inbound_nodes")
    if not isinstance(calls, list) or len(calls) > 1:
        raise ValidationError({path: ["A layer called more than once (shared weights) cannot "
                                      "be declared."]})  # fmt: skip
    found: list[str] = []
    tensor = "__keras_tensor__"

    def walk(value: Any, depth: int = 0) -> None:
        if depth > 8:
            return
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            found.append(_tensor_name((value.get("config") or {}).get("keras_history")) or "")
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    for call in calls:
        if not isinstance(call, dict):
            continue
        walk(call.get("args"))
        kwargs = call.get("kwargs") if isinstance(call.get("kwargs"), dict) else {}
        for name in ("query", "value", "key"):  # attention's inputs, in the order it takes them
            walk(kwargs.get(name))
        for name, value in kwargs.items():
            if name in ("query", "value", "key", "training") or value in (None, False):
                continue
            if tensor in json.dumps(value) or value is True or name.endswith("mask"):
                raise ValidationError({path: [f"A call with {name}={value!r} cannot be "
                                              "declared."]})  # fmt: skip
    return found


def _tensor_name(history: Any) -> str | None:
    if isinstance(history, list) and history and isinstance(history[0], str):
        return history[0]
    return None


def _node_name(name: str, taken: set[str]) -> str:
    """A Keras layer name as a node name (lowercase letters, digits, underscores)."""
    base = re.sub(r"[^a-z0-9_]", "_", name.lower())[:36] or "node"
    base = base if base[0].isalpha() and base != INPUT else f"n_{base}"[:36]
    node, i = base, 1
    while node in taken:
        i += 1
        node = f"{base}_{i}"
    return node


def _input_shape(entry: dict[str, Any], path: str) -> list[int] | None:
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    return _shape_list(config.get("batch_shape") or config.get("batch_input_shape"), path)


def _shape_list(batch_shape: Any, path: str) -> list[int] | None:
    if batch_shape is None:
        return None
    sample = batch_shape[1:] if isinstance(batch_shape, list) else None
    if not sample or not all(isinstance(v, int) and not isinstance(v, bool) for v in sample):
        raise ValidationError({path: ["The input needs a fixed shape (no None besides the "
                                      "batch axis)."]})  # fmt: skip
    return list(sample)


def _layer(entry: Any, path: str, notes: list[str]) -> dict[str, Any]:
    """One Keras layer's entry as a declared layer (checked against the allowlist)."""
    if not isinstance(entry, dict):
        raise ValidationError({path: ["Must be a layer object."]})
    kind = entry.get("class_name")
    config = entry.get("config")
    name = config.get("name") if isinstance(config, dict) else None
    if kind in _MODELS:
        raise ValidationError({path: [f"{name!r} is a nested model; declare its layers in "
                                      "place."]})  # fmt: skip
    if kind not in LAYER_TYPES or not isinstance(config, dict):
        why = " (it runs code)" if kind == "Lambda" else ""
        raise ValidationError({path: [f"Layer {name!r} is a {kind!r}, which is not in the "
                                      f"allowlist{why}."]})  # fmt: skip
    _check_origin(entry, path)
    allowed = LAYER_TYPES[kind].args
    declared: dict[str, Any] = {"type": kind}
    for key, value in config.items():
        if key == "layer" and kind == "Bidirectional":
            declared[key] = _layer(value, f"{path}.config.layer", notes)
        elif key == "backward_layer" and not _mirrors(value, config.get("layer")):
            raise ValidationError(
                {
                    f"{path}.config.backward_layer": [
                        f"Layer {name!r}: a "
                        "backward layer unlike the forward one cannot be declared."
                    ]
                }
            )
        elif key in allowed:
            value = _value(kind, key, value, path, name, notes)
            if value is not None and _differs(value, allowed[key].default):
                declared[key] = value
        elif key in _NOTED and value is not None:
            notes.append(f"{path} ({name}): {key} dropped; search l1/l2 instead.")
        elif key in _MUST_BE and value != _MUST_BE[key] and (key, value) not in _SAME:
            raise ValidationError({f"{path}.config.{key}": [f"Layer {name!r}: {key}={value!r} "
                                   "cannot be declared in tuneq."]})  # fmt: skip
        elif key == "axis" and kind.endswith("Normalization") and value not in (-1, [-1]):
            raise ValidationError({f"{path}.config.axis": [f"Layer {name!r}: only the last "
                                   "axis can be normalized."]})  # fmt: skip
    errors: dict[str, Any] = {}
    Parser(errors).entry(declared, path, 0, graph=True)
    if errors:
        raise ValidationError({k: [f"Layer {name!r}: {' '.join(v)}"] for k, v in errors.items()})
    return declared


def _value(kind: str, key: str, value: Any, path: str, name: Any, notes: list[str]) -> Any:
    """A config value in the declared form (an initializer by its name, a window as a list)."""
    if key == "kernel_initializer":
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", str(_class_name(value))).lower()
        if snake in INITIALIZERS:
            return snake
        notes.append(f"{path} ({name}): kernel_initializer {snake!r} replaced by the default.")
        return None
    if key == "activation" and isinstance(value, dict):
        return _class_name(value)
    if key in _WINDOWS and isinstance(value, list) and len(set(map(repr, value))) == 1:
        return value[0]  # [3, 3] reads as 3
    if key in _FACTORS and isinstance(value, list):
        return _factor(kind, key, value, path, name)
    return value


def _factor(kind: str, key: str, value: list[Any], path: str, name: Any) -> Any:
    """An augmentation factor as Keras writes it, back to the one number tuneq takes: a
    rotation's ``[-f, f]``, a contrast's ``[0, f]``; anything else is a range tuneq cannot
    say."""
    if len(value) == 2 and all(isinstance(v, int | float) for v in value):
        low, high = value
        if low == -high or (kind == "RandomContrast" and low == 0):
            return high
    raise ValidationError({f"{path}.config.{key}": [f"Layer {name!r}: {key}={value!r} cannot "
                           "be declared: give one number (a range from -f to f)."]})  # fmt: skip


def _mirrors(backward: Any, forward: Any) -> bool:
    """A Bidirectional's backward layer is its forward layer reading backwards."""
    if backward is None:
        return True
    if not isinstance(backward, dict) or not isinstance(forward, dict):
        return False
    ignored = ("name", "go_backwards", "seed")

    def plain(entry: dict[str, Any]) -> tuple[Any, Any]:
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        return entry.get("class_name"), {k: v for k, v in config.items() if k not in ignored}

    return plain(backward) == plain(forward)


def _class_name(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("class_name") if value.get("class_name") else value.get("config")
    return value


def _differs(value: Any, default: Any) -> bool:
    return value != default or type(value) is not type(default)
