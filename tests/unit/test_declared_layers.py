"""The API's plain-Python shapes and parameter counts of every allowed layer type agree with
Keras building the same layer; shapes the API refuses are ones Keras refuses too; and building a
declared model never goes near a Keras deserializer."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from keras.src.saving import serialization_lib

from service.core.architecture.allowlist import LAYER_TYPES
from service.core.architecture.shapes import ShapeError, merged, output
from service.core.architecture.sizing import Built
from service.core.spec import load_spec
from tests.declared import convnet_spec
from worker.engine.declared import CONSTRUCTORS, make_layer
from worker.engine.models import build_model

CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("Dense", {"units": 7}, (5,)),
    ("Dense", {"units": 3, "use_bias": False}, (4, 6)),
    ("Conv1D", {"filters": 4, "kernel_size": 3}, (10, 2)),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, (9, 2)),
    ("Conv1D", {"filters": 2, "kernel_size": 4, "strides": 3, "padding": "same"}, (11, 3)),
    ("Conv2D", {"filters": 5, "kernel_size": [3, 2], "strides": 2}, (9, 8, 3)),
    ("Conv2D", {"filters": 5, "kernel_size": 3, "padding": "same", "use_bias": False}, (7, 7, 1)),
    ("SeparableConv1D", {"filters": 6, "kernel_size": 3, "depth_multiplier": 2}, (12, 3)),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, (6, 6, 2)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 3}, (8, 8, 2)),
    ("DepthwiseConv2D", {"kernel_size": 2, "strides": 2, "use_bias": False}, (7, 5, 4)),
    ("MaxPooling1D", {}, (9, 3)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (9, 3)),
    ("MaxPooling2D", {"pool_size": [2, 3]}, (7, 9, 2)),
    ("AveragePooling1D", {"pool_size": 4, "strides": 2}, (11, 2)),
    ("AveragePooling2D", {"padding": "same"}, (5, 5, 3)),
    ("GlobalAveragePooling1D", {}, (6, 4)),
    ("GlobalAveragePooling2D", {}, (5, 5, 3)),
    ("GlobalMaxPooling1D", {}, (6, 4)),
    ("GlobalMaxPooling2D", {}, (5, 5, 3)),
    ("Flatten", {}, (4, 3, 2)),
    ("Reshape", {"target_shape": [-1, 4]}, (8, 2)),
    ("Reshape", {"target_shape": [4, 4, 1]}, (16,)),
    ("Dropout", {"rate": 0.3}, (5,)),
    ("SpatialDropout1D", {"rate": 0.2}, (6, 3)),
    ("SpatialDropout2D", {"rate": 0.2}, (4, 4, 3)),
    ("GaussianNoise", {"stddev": 0.1}, (5,)),
    ("BatchNormalization", {}, (4, 4, 3)),
    ("BatchNormalization", {"momentum": 0.9, "epsilon": 0.01}, (7,)),
    ("LayerNormalization", {}, (6, 5)),
    ("Activation", {"activation": "softmax"}, (5,)),
    ("Rescaling", {"scale": 0.5, "offset": 1.0}, (3, 3, 1)),
    ("Embedding", {"input_dim": 12, "output_dim": 3}, (7,)),
    ("SimpleRNN", {"units": 5}, (7, 3)),
    (
        "Bidirectional",
        {"layer": Built("LSTM", {"units": 3, "return_sequences": True}, "l")},
        (6, 2),
    ),
    ("Bidirectional", {"layer": Built("GRU", {"units": 4}, "l"), "merge_mode": "sum"}, (5, 3)),
    ("LSTM", {"units": 4, "return_sequences": True}, (6, 2)),
    ("GRU", {"units": 3, "dropout": 0.1}, (5, 4)),
    ("RandomFlip", {"mode": "horizontal"}, (6, 6, 1)),
    ("RandomRotation", {"factor": 0.1}, (6, 6, 2)),
    ("RandomZoom", {"height_factor": 0.2}, (6, 6, 1)),
    ("RandomTranslation", {"height_factor": 0.1, "width_factor": 0.2}, (6, 6, 1)),
    ("RandomContrast", {"factor": 0.3}, (6, 6, 3)),
]

MERGES: list[tuple[str, dict[str, Any], list[tuple[int, ...]]]] = [
    ("Add", {}, [(4, 4, 3), (4, 4, 3), (4, 4, 3)]),
    ("Subtract", {}, [(5,), (5,)]),
    ("Multiply", {}, [(3, 2), (3, 2)]),
    ("Average", {}, [(6,), (6,)]),
    ("Maximum", {}, [(2, 2, 2), (2, 2, 2)]),
    ("Minimum", {}, [(7,), (7,)]),
    ("Concatenate", {}, [(4, 4, 3), (4, 4, 5)]),
    ("Concatenate", {"axis": 1}, [(2, 3), (5, 3)]),
    ("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(5, 6), (7, 3)]),
    ("MultiHeadAttention", {"num_heads": 3, "key_dim": 2, "value_dim": 5, "use_bias": False},
     [(4, 8), (6, 3), (6, 2)]),
]  # fmt: skip


def test_every_allowed_type_is_covered_and_built_from_our_table() -> None:
    assert {case[0] for case in CASES + MERGES} == set(LAYER_TYPES)  # type: ignore[operator]
    assert set(CONSTRUCTORS) == set(LAYER_TYPES)
    assert all(CONSTRUCTORS[name].__name__ == name for name in LAYER_TYPES)


@pytest.mark.parametrize(("kind", "args", "shape"), CASES)
def test_shapes_and_parameters_match_keras(
    kind: str, args: dict[str, Any], shape: tuple[int, ...]
) -> None:
    inputs = keras.Input(shape=shape)
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    model = keras.Model(inputs, make_layer(kind, kwargs)(inputs))
    expected_shape, expected_params = output(kind, kwargs, shape)
    assert tuple(model.output.shape[1:]) == expected_shape
    assert model.count_params() == expected_params


@pytest.mark.parametrize(("kind", "args", "shapes"), MERGES)
def test_layers_of_several_inputs_match_keras(
    kind: str, args: dict[str, Any], shapes: list[tuple[int, ...]]
) -> None:
    inputs = [keras.Input(shape=shape) for shape in shapes]
    layer = make_layer(kind, args)
    if kind == "MultiHeadAttention":
        out = layer(inputs[0], inputs[1], key=inputs[2] if len(inputs) > 2 else None)
    else:
        out = layer(inputs)
    model = keras.Model(inputs, out)
    expected_shape, expected_params = merged(kind, args, shapes)
    assert tuple(model.output.shape[1:]) == expected_shape
    assert model.count_params() == expected_params


def test_merges_of_mismatched_shapes_are_refused() -> None:
    for kind, shapes in [("Add", [(4,), (5,)]), ("Concatenate", [(2, 3), (3, 4)])]:
        with pytest.raises(ShapeError):
            merged(kind, {}, shapes)
        with pytest.raises(ValueError):
            make_layer(kind, {})([keras.Input(shape=shape) for shape in shapes])
    # Keras builds attention over single vectors, with no axis to attend over; refused here
    with pytest.raises(ShapeError, match="steps"):
        merged("MultiHeadAttention", {"num_heads": 1, "key_dim": 2}, [(5,), (5,)])


REFUSED: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("Conv2D", {"filters": 2, "kernel_size": 3}, (16,)),
    ("Conv2D", {"filters": 2, "kernel_size": 5}, (4, 4, 1)),
    ("Conv1D", {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, (12, 1)),
    ("MaxPooling2D", {"pool_size": 3}, (2, 2, 1)),
    ("Reshape", {"target_shape": [3, 3]}, (8,)),
    ("LSTM", {"units": 2}, (5,)),
    ("GlobalAveragePooling2D", {}, (5, 3)),
]


@pytest.mark.parametrize(("kind", "args", "shape"), REFUSED)
def test_what_the_api_refuses_keras_cannot_build(
    kind: str, args: dict[str, Any], shape: tuple[int, ...]
) -> None:
    with pytest.raises(ShapeError):
        output(kind, args, shape)
    with pytest.raises((ValueError, TypeError)):
        inputs = keras.Input(shape=shape)
        model = keras.Model(inputs, make_layer(kind, args)(inputs))
        assert min(model.output.shape[1:]) > 0  # (a pool leaving nothing is refused here)


def test_building_and_training_never_deserializes(monkeypatch: pytest.MonkeyPatch) -> None:
    """No value from a client's declaration reaches a Keras deserializer: the public entry
    points fail outright, and the internal one (which Keras uses for its own defaults, such as
    a bias's "zeros") never sees a value the client chose."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a Keras deserializer was called")

    for owner, name in [
        (keras.saving, "deserialize_keras_object"),
        (keras.saving, "load_model"),
        (keras.layers, "deserialize"),
        (keras.models, "model_from_json"),
        (keras.models, "clone_model"),
    ]:
        monkeypatch.setattr(owner, name, refuse)
    seen: list[str] = []
    original = serialization_lib.deserialize_keras_object

    def spy(config: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(repr(config))
        return original(config, *args, **kwargs)

    monkeypatch.setattr(serialization_lib, "deserialize_keras_object", spy)
    spec = load_spec(convnet_spec())
    config = spec.configuration(
        {"filters": 8, "blocks": 2, "filters_2": 12, "activation": "relu", "dropout": 0.1,
         "units": 16, "learning_rate": 0.01, "l2": 1e-4}
    )  # fmt: skip
    declared = load_spec({**convnet_spec(), "model": {"layers": [
        *convnet_spec()["model"]["layers"][:-1],
        {"type": "Dense", "units": {"hp": "units", "per_repeat": False},
         "kernel_initializer": "he_normal", "activation": "gelu"},
    ]}})  # fmt: skip
    model = build_model("declared", config, (8, 8, 1), "classification", 10,
                        architecture=declared.model.layers)  # fmt: skip
    x = np.random.default_rng(0).normal(size=(32, 64)).astype("float32")
    model.fit(x, np.arange(32) % 10, epochs=1, verbose=0)
    penalized = [layer for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    assert len(penalized) == 4  # three convolutions and the dense layer; not the head
    assert not [call for call in seen if "he_normal" in call or "gelu" in call], seen


def test_a_configuration_between_the_checked_ends_that_does_not_fit_fails_its_trial() -> None:
    """The API checks a numeric slot at its ends; a width in between that a Reshape cannot
    split fails its own trial with the layer named, before Keras builds anything."""
    spec = load_spec({
        "dataset": {"builtin": "digits"},
        "model": {"layers": [
            {"type": "Flatten"}, {"type": "Dense", "units": {"hp": "u"}},
            {"type": "Reshape", "target_shape": [-1, 4]}, {"type": "Flatten"},
        ]},
        "search_space": {"u": {"type": "int", "low": 8, "high": 16}},
    })  # fmt: skip
    for width, fits in ((8, True), (10, False), (12, True)):
        config = spec.configuration({"u": width})
        if fits:
            build_model("declared", config, (8, 8, 1), "classification", 10,
                        architecture=spec.model.layers)  # fmt: skip
            continue
        with pytest.raises(ValueError, match=r"model\.layers\[2\]: Reshape"):
            build_model("declared", config, (8, 8, 1), "classification", 10,
                        architecture=spec.model.layers)  # fmt: skip
