"""Importing a Keras model's architecture: ``to_json()`` of Sequential and functional models
built from allowed layers comes back as a declaration that builds the same model (the same
parameter count); what cannot be declared (a Lambda, a custom class, a nested model,
channels-first data) is refused naming the layer; and the document is read as JSON only."""

from __future__ import annotations

import json
from typing import Any

import keras
import pytest
from marshmallow import ValidationError

from service.core.architecture.importer import import_keras
from service.core.spec import SpecLimits, load_spec
from worker.engine.models import build_model


def _residual() -> keras.Model:
    inputs = keras.Input((8, 8, 1))
    a = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(a)
    joined = keras.layers.Concatenate()([keras.layers.Add()([a, b]), a])
    flat = keras.layers.Flatten()(joined)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat))


def _attention() -> keras.Model:
    inputs = keras.Input((64,))
    steps = keras.layers.Reshape((16, 4))(inputs)
    seq = keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True))(steps)
    attended = keras.layers.MultiHeadAttention(2, 4)(seq, seq)
    last = keras.layers.GRU(6)(keras.layers.LayerNormalization()(attended))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(last))


def _sequential() -> keras.Model:
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.RandomFlip("horizontal"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_regularizer="l2",
                            kernel_initializer="he_normal"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(),
        keras.layers.SeparableConv2D(16, (3, 3), strides=(1, 1)),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip


@pytest.mark.parametrize("make", [_sequential, _residual, _attention])
def test_an_imported_model_builds_the_same_architecture(make: Any) -> None:
    original = make()
    imported = import_keras(json.loads(original.to_json()))
    shape = tuple(imported["model"]["input_shape"])
    spec = load_spec({"dataset": {"builtin": "digits"}, "model": imported["model"],
                      "search_space": {"learning_rate": {"type": "float", "low": 1e-3,
                                                         "high": 1e-2}}}, SpecLimits())  # fmt: skip
    assert spec.model.layers.output_layer  # the model's own output layer is kept
    config = spec.configuration({"learning_rate": 0.01})
    rebuilt = build_model("declared", config, shape, "classification",
                          10, architecture=spec.model.layers)  # fmt: skip
    assert rebuilt.count_params() == original.count_params()


def test_what_tuneq_sets_itself_is_dropped_with_a_note() -> None:
    imported = import_keras(json.loads(_sequential().to_json()))
    conv = imported["model"]["layers"][1]
    assert conv["kernel_initializer"] == "he_normal" and "kernel_regularizer" not in conv
    assert any("kernel_regularizer dropped" in note for note in imported["notes"])
    assert imported["model"]["layers"][4] == {
        "type": "SeparableConv2D",
        "filters": 16,
        "kernel_size": 3,
    }  # defaults left out


REFUSED = [
    (lambda: keras.Sequential([keras.Input((64,)), keras.layers.Lambda(lambda x: x * 2),
                               keras.layers.Dense(10)]), "config.layers[1]", "runs code"),
    (lambda: keras.Sequential([keras.Input((1, 8, 8)),
                               keras.layers.Conv2D(4, 3, data_format="channels_first")]),
     "config.layers[1].config.data_format", "data_format"),
    (lambda: keras.Sequential([keras.Input((8,)), keras.layers.LayerNormalization(center=False)]),
     "config.layers[1].config.center", "center"),
    (lambda: keras.Sequential([keras.Input((8,)), keras.Sequential([keras.layers.Dense(3)])]),
     "config.layers[1]", "nested model"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "path", "why"), REFUSED)
def test_what_cannot_be_declared_is_refused_naming_the_layer(
    make: Any, path: str, why: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        import_keras(json.loads(make().to_json()))
    assert path in caught.value.messages, caught.value.messages
    assert why in " ".join(caught.value.messages[path])


@pytest.mark.parametrize(
    "document",
    [
        {"class_name": "Sequential", "module": "evil", "config": {"layers": [{}]}},
        {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Dense", "module": "my_package.layers", "registered_name": "My>Dense",
             "config": {"units": 3}}]}},
        {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Dense", "module": "keras.layers", "config": {"units": "3"}}]}},
        {"class_name": "Functional", "config": {"layers": [
            {"class_name": "Dense", "config": {"units": 3}, "inbound_nodes": []}],
            "output_layers": [["dense", 0, 0]]}},
        {"class_name": "Lambda"},
        [1, 2, 3],
    ],
)  # fmt: skip
def test_hostile_documents_are_refused_without_keras(
    document: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras.saving, "deserialize_keras_object", _fail)
    monkeypatch.setattr(keras.models, "model_from_json", _fail)
    with pytest.raises(ValidationError):
        import_keras(document)


def _fail(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a Keras deserializer was called")
