"""Cases a review of declared models and imports found, each a 500 or a silent change before:
now a 422 naming the field, a faithful import, or a trial that fails with the reason."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import keras
import numpy as np
import pytest
from flask.testing import FlaskClient
from marshmallow import ValidationError

from service.core.architecture.importer import import_keras
from service.core.spec import SpecLimits, load_spec
from tests.declared import convnet_spec, residual_spec
from tests.unit.test_spec_validation import assert_field_error, client  # noqa: F401
from worker.engine.declared import make_layer
from worker.engine.models import build_model
from worker.engine.scaling import FeatureScaler


def _graph(nodes: Any, outputs: Any) -> dict[str, Any]:
    return {"dataset": {"builtin": "digits"}, "model": {"graph": {"nodes": nodes,
            "outputs": outputs}}, "search_space": {"learning_rate": {"type": "float",
            "low": 0.001, "high": 0.01}}}  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (_graph({"a": {"type": "Flatten", "inputs": ["input"]}}, [["a"]]), "model.graph.outputs"),
        (_graph([1], ["a"]), "model.graph.nodes"),
        ({**_graph({}, []), "model": {"layers": [
            {"repeat": 1, "layers": [{"type": "Embedding", "input_dim": 17, "output_dim": 2}]},
            {"type": "Flatten"}]}}, "model.layers[0].layers[0].type"),
        ({**_graph({}, []), "model": {"layers": [
            {"type": "Flatten"}, {"type": "Embedding", "input_dim": 17, "output_dim": 2},
            {"type": "Flatten"}]}}, "model.layers[1].type"),
    ],
)  # fmt: skip
def test_bad_graphs_and_embeddings_are_422s(
    client: FlaskClient,  # noqa: F811
    spec: dict[str, Any],
    path: str,
) -> None:
    assert_field_error(client, spec, path)


def test_many_dimensions_and_a_nested_error_together_are_a_422(client: FlaskClient) -> None:  # noqa: F811
    spec = convnet_spec()
    spec["search_space"]["filters_3"] = {"type": "int", "low": 8, "high": 9}  # never active
    for i in range(30):
        spec["model"]["layers"].append({"type": "Dropout", "rate": {"hp": f"d{chr(97 + i % 26)}"
                                        f"{chr(97 + i // 26)}"}})  # fmt: skip
        spec["search_space"][f"d{chr(97 + i % 26)}{chr(97 + i // 26)}"] = {
            "type": "float", "low": 0.0, "high": 0.5}  # fmt: skip
    assert_field_error(client, spec, "search_space")


@pytest.mark.parametrize(
    "document",
    [
        {"class_name": "Sequential", "config": {"layers": [{"class_name": ["Dense"],
                                                             "config": {"units": 3}}]}},
        {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense",
         "config": {"units": 3}, "build_config": "x"}]}},
        {"class_name": "Functional", "config": {"layers": [{"class_name": "Dense",
         "config": [1]}], "output_layers": [["d", 0, 0]]}},
        {"class_name": "Functional", "config": {"layers": [
            {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [None, 3]}},
            {"class_name": "Dense", "name": "d", "config": {"units": 3}, "inbound_nodes": [
                {"args": [{"class_name": "__keras_tensor__", "config": [1]}]}]}],
            "output_layers": [["d", 0, 0]]}},
    ],
)  # fmt: skip
def test_odd_documents_are_refused_not_crashed_on(document: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        import_keras(document)


def test_attention_called_by_keyword_imports_in_its_own_order() -> None:
    inputs = keras.Input((35,))
    a = keras.layers.Reshape((5, 7), name="as_query")(inputs)
    b = keras.layers.Reshape((7, 5), name="as_value")(inputs)
    out = keras.layers.MultiHeadAttention(2, 4, name="attend")(value=b, query=a)
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(out)))
    imported = import_keras(json.loads(model.to_json()))
    node = imported["model"]["graph"]["nodes"]["attend"]
    assert node["inputs"] == ["as_query", "as_value"]  # query, then value
    causal = keras.layers.MultiHeadAttention(2, 4)(a, a, use_causal_mask=True)
    masked = keras.Model(inputs, keras.layers.Flatten()(causal))
    with pytest.raises(ValidationError, match="use_causal_mask"):
        import_keras(json.loads(masked.to_json()))


def test_augmentation_factors_import_as_one_number_or_are_refused() -> None:
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.RandomRotation(0.1),
         keras.layers.RandomContrast(0.2), keras.layers.Flatten()]
    )  # fmt: skip
    layers = import_keras(json.loads(model.to_json()))["model"]["layers"]
    assert layers[0]["factor"] == 0.1 and layers[1]["factor"] == 0.2
    for layer in (
        keras.layers.RandomZoom((0.2, 0.2)),
        keras.layers.Embedding(9, 2, mask_zero=True),
    ):
        shape = (8, 8, 1) if isinstance(layer, keras.layers.RandomZoom) else (5,)
        odd = keras.Sequential([keras.Input(shape), layer, keras.layers.Flatten()])
        with pytest.raises(ValidationError):
            import_keras(json.loads(odd.to_json()))


def test_contrast_keeps_standardized_values_below_zero() -> None:
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    out = np.asarray(make_layer("RandomContrast", {"factor": 0.2})(x, training=True))
    assert (out < 0).mean() > 0.3


def test_graph_nodes_may_take_names_tuneq_uses_itself() -> None:
    spec = load_spec(_graph({"features": {"type": "Flatten", "inputs": ["input"]},
                             "output": {"type": "Dense", "inputs": ["features"], "units": 4}},
                            ["output"]))  # fmt: skip
    model = build_model("declared", spec.configuration({"learning_rate": 0.01}), (8, 8, 1),
                        "classification", 10, architecture=spec.model.layers)  # fmt: skip
    assert {"node_features", "node_output", "output"} <= {layer.name for layer in model.layers}


def test_a_configuration_over_the_cap_fails_its_trial() -> None:
    """Parameters that peak inside a slot's range (filters and kernel both k) get past the
    corners; the worker refuses that configuration before building it."""
    spec = load_spec({"dataset": {"builtin": "digits"}, "model": {"input_shape": [64, 1],
        "layers": [{"type": "Conv1D", "filters": {"hp": "k"}, "kernel_size": {"hp": "k"}},
                   {"type": "Flatten"}, {"type": "Dense", "units": 256}]},
        "search_space": {"k": {"type": "int", "low": 1, "high": 64}}}, SpecLimits())  # fmt: skip
    config = spec.configuration({"k": 32})
    with pytest.raises(ValueError, match="limit is 100,000"):
        build_model("declared", config, (64, 1), "classification", 10,
                    architecture=spec.model.layers, max_params=100_000)  # fmt: skip


def test_token_ids_must_be_whole_numbers_from_zero() -> None:
    with pytest.raises(ValueError, match="token ids"):
        FeatureScaler(tokens=True).fit(np.array([[0.5, 1.0]]))
    assert FeatureScaler(tokens=True).fit(np.array([[0.0, 3.0]])).transform(
        np.array([[2.0, 1.0]])
    ).tolist() == [[2.0, 1.0]]


def test_a_corrupt_archive_and_an_oversized_json_are_422s(client: FlaskClient) -> None:  # noqa: F811
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Sequential"}) * 50)
    data = bytearray(buffer.getvalue())
    data[40:60] = bytes(20)  # inside the deflate stream
    for payload, name in ((bytes(data), "m.keras"), (b"[" + b"{}," * 2_000_000 + b"{}]", "m.json")):
        response = client.post("/v1/models/import", data={"file": (io.BytesIO(payload), name)},
                               content_type="multipart/form-data")  # fmt: skip
        assert response.status_code == 422, response.get_json()
        assert "file" in response.get_json()["error"]["fields"]


def test_the_import_answers_only_what_a_job_would_accept() -> None:
    inputs = keras.Input((4,))
    branches = [keras.layers.Dense(2)(inputs) for _ in range(9)]
    model = keras.Model(inputs, keras.layers.Add(name="join")(branches))
    with pytest.raises(ValidationError) as caught:
        import_keras(json.loads(model.to_json()))
    assert "model.graph.nodes.join.inputs" in caught.value.messages
    assert residual_spec()  # (the shipped graph example imports and loads elsewhere)
