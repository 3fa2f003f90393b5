"""A table's encoding: learnt from the training rows only, the same in training and in the
exported model, and an exported model that takes raw columns (NaN, unseen categories) and
loads with plain Keras."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from service.api.datasets import describe
from service.core.dataset_files import UploadLimits, parse_upload
from service.core.spec import DatasetRef, load_spec
from service.core.table_encoding import EncodingLimits
from service.core.vocabulary import configuration
from tests.tables import messy_csv
from worker.engine import dataset_loader
from worker.engine.dataset_loader import Dataset
from worker.engine.export import served_input, served_model
from worker.engine.refit import refit
from worker.engine.tables import TableEncoder
from worker.engine.training import fit_fold, validation_folds


def table(data: bytes | None = None, **options: Any) -> tuple[Dataset, DatasetRef]:
    parsed = parse_upload(data or messy_csv(), "t.csv", UploadLimits(), target="grade", **options)
    meta = describe(parsed, "tenant", 0)
    ref = DatasetRef(id=meta.id, info=meta.info())
    stored = parsed.to_npz()
    dataset_loader._UPLOADED.clear()
    return dataset_loader.load_dataset(ref, lambda _: stored), ref


def table_spec(ref: DatasetRef, spec: dict[str, Any], **fixed: Any) -> Any:
    spec = {**spec, "dataset": {"id": ref.id}, "fixed": {"n_layers": 1, **fixed}}
    spec["training"] = {"max_epochs": 6, "early_stopping": {"patience": 2}}
    return load_spec(spec, datasets=lambda _: ref.info)


def statistics(encoder: TableEncoder) -> list[dict[str, Any]]:
    return [dataclasses.asdict(part) for part in encoder.parts]


@pytest.mark.parametrize("encoding", ["one_hot", "embedding"])
def test_the_exported_front_computes_what_training_read(encoding: str) -> None:
    data, _ = table()
    encoder = TableEncoder(data.columns or (), encoding).fit(data.x_train)
    probe = keras.Model(*encoder.front())
    raw = data.x_test.copy()
    raw[0, 1] = "atlantis"  # a city never seen
    raw[1, 0] = np.nan  # an empty income
    raw[2, 5] = "words nobody wrote, ever"
    inputs = served_input(encoder, raw)
    assert np.allclose(probe.predict(inputs, verbose=0), encoder.transform(raw), atol=1e-5)
    assert encoder.transform(raw).shape[1] == encoder.width


def test_statistics_come_from_the_training_rows_only() -> None:
    """Poisoning the test part (and the validation rows of a fold) changes none of what the
    model reads from the training rows."""
    data, ref = table()
    poisoned = data.x_test.copy()
    poisoned[:, 0] = 1e6  # incomes no training row has
    poisoned[:, 1] = "poison"
    other = dataclasses.replace(data, x_test=poisoned)
    encoder = TableEncoder(data.columns or ()).fit(data.x_train)
    assert statistics(encoder) == statistics(TableEncoder(other.columns or ()).fit(other.x_train))
    assert "poison" not in encoder.parts[1].vocabulary  # type: ignore[union-attr]

    job = table_spec(
        ref,
        {
            "name": "t",
            "search_space": {"units": {"type": "int", "low": 4, "high": 8}},
            "search": {"max_trials": 2},
        },
    )
    config = configuration(job.fixed, {"units": 4}, "mlp", job.task, job.tabular)
    x_fit, y_fit, x_val, y_val = validation_folds(job, data)[0]
    spoiled_val = x_val.copy()
    spoiled_val[:, 0] = -1e6
    spoiled_val[:, 1] = "poison"
    one = fit_fold(job, config, data, (x_fit, y_fit, x_val, y_val), 0).scaler
    two = fit_fold(job, config, data, (x_fit, y_fit, spoiled_val, y_val), 0).scaler
    assert isinstance(one, TableEncoder) and isinstance(two, TableEncoder)
    assert (
        statistics(one)
        == statistics(two)
        == statistics(TableEncoder(data.columns or ()).fit(x_fit))
    )
    # the refit's statistics too: the test part is scored, never fitted on
    first = refit(job, config, data, epochs=3, seed=0)
    second = refit(job, config, other, epochs=3, seed=0)
    assert first.inner_metrics == second.inner_metrics


@pytest.mark.parametrize("encoding", ["one_hot", "embedding"])
def test_the_shipped_model_takes_raw_rows_and_scores_what_the_job_reports(
    encoding: str, spec: dict[str, Any], tmp_path: Path
) -> None:
    data, ref = table()
    job = table_spec(ref, spec, categorical_encoding=encoding, class_weight="balanced")
    config = configuration(job.fixed, {}, "mlp", job.task, job.tabular)
    assert config["categorical_encoding"] == encoding and config["class_weight"] == "balanced"
    done = refit(job, config, data, epochs=4, seed=0)
    path = tmp_path / "model.keras"
    path.write_bytes(done.model)
    loaded = keras.saving.load_model(path)  # plain Keras: no custom objects, safe mode
    rows = {
        name: [None if v != v else v for v in data.x_test[:, j].tolist()]
        for j, name in enumerate(c["name"] for c in data.columns or ())
    }
    # as pandas.read_csv(...).to_dict("list") hands them over: NaN for empty numbers
    columns = {
        name: np.asarray([np.nan if v is None else v for v in values], dtype=np.float32)
        if isinstance(next(v for v in values if v is not None), float)
        else np.asarray(values, dtype=object)
        for name, values in rows.items()
    }
    predicted = np.asarray(loaded(columns)).argmax(axis=1)
    assert float(np.mean(predicted == data.y_test)) == pytest.approx(
        done.test_metrics["test_accuracy"], abs=1e-6
    )
    with zipfile.ZipFile(io.BytesIO(done.model)) as archive:
        metadata = json.loads(archive.read("tuneq.json"))
    assert metadata["class_names"] == ["high", "low", "mid"]
    assert metadata["input"]["columns"] == {
        "income": "float32", "city": "string", "member": "string", "verified": "float32",
        "rooms": "float32", "note": "string",
    }  # fmt: skip


def test_a_column_name_keras_refuses_still_keys_the_input() -> None:
    data = messy_csv().replace(b"income", b"income/yr").replace(b"city", b"concatenate")
    dataset, _ = table(data)
    encoder = TableEncoder(dataset.columns or ()).fit(dataset.x_train)
    body = keras.Sequential([keras.Input((encoder.width,)), keras.layers.Dense(3)])
    served = served_model(body, encoder)
    out = served(served_input(encoder, dataset.x_test[:5]))
    assert tuple(out.shape) == (5, 3)


def test_many_categories_are_kept_up_to_the_limit_and_the_rest_share_one_slot() -> None:
    rows = "\n".join(f"{f'shop{i % 50}'},{i % 3}" for i in range(300))
    data, _ = table(f"shop,grade\n{rows}\n".encode())
    one_hot = TableEncoder(data.columns or (), "one_hot", EncodingLimits(one_hot=5)).fit(
        data.x_train
    )
    assert one_hot.width == 6  # five shops and the out-of-vocabulary slot
    encoded = one_hot.transform(data.x_test)
    assert encoded.sum(axis=1).tolist() == [1.0] * len(encoded)
    assert encoded[:, 0].sum() > 0  # the shops past the limit
    embedded = TableEncoder(data.columns or (), "embedding", EncodingLimits()).fit(data.x_train)
    assert embedded.embedded == [51] and embedded.width == 1


def test_text_is_split_into_the_words_the_exported_model_sees() -> None:
    """Python's lower() and split() also touch non-ASCII letters and spaces; TensorFlow's string
    ops (the exported model's) do not, so training tokenizes as they do."""
    cells = ["Café ÉCOLE résumé", "naïve\u00a0word tab\tsep", "hello world", "Straße ok",
             "a\u3000b", "x\x1cy", "don't stop!", ""]  # fmt: skip
    text = [{"name": "t", "kind": "text", "input": "string"}]
    x = np.asarray([[c] for c in cells], dtype=object)
    encoder = TableEncoder(text).fit(x)
    probe = keras.Model(*encoder.front())
    assert np.array_equal(probe.predict(served_input(encoder, x), verbose=0), encoder.transform(x))


def test_a_text_column_without_words_exports() -> None:
    text = [{"name": "t", "kind": "text", "input": "string"}]
    x = np.asarray([[""], ["?!"], ["--"]], dtype=object)
    encoder = TableEncoder(text).fit(x)
    body = keras.Sequential([keras.Input((encoder.width,)), keras.layers.Dense(2)])
    served = served_model(body, encoder)
    assert tuple(served(served_input(encoder, x)).shape) == (3, 2)
    assert encoder.transform(x).tolist() == [[0.0, 0.0]] * 3


def test_the_size_check_counts_embeddings() -> None:
    """200 categorical columns of 1000 values: one-hot is 33 wide each (the 32 kept values and
    the rest), but an embedding of 256 is 256 wide and adds 1001 x 256 weights per column."""
    from marshmallow import ValidationError

    from service.core.catalog import DatasetInfo
    from service.core.spec import SpecLimits
    from service.core.table_encoding import embedding_bound, encoded_width

    columns = [{"name": f"c{i}", "kind": "categorical", "input": "string", "distinct": 1000}
               for i in range(200)]  # fmt: skip
    info = DatasetInfo("a" * 64, "classification", encoded_width(columns), 2, 10_000,
                       inputs=tuple((c["name"], "string") for c in columns),
                       embedding=dataclasses.astuple(embedding_bound(columns)))  # fmt: skip
    spec = {
        "dataset": {"id": "a" * 64},
        "search_space": {"units": {"type": "int", "low": 16, "high": 512}},
        "fixed": {"n_layers": 1, "categorical_encoding": "embedding", "embedding_dim": 256},
    }
    limits = SpecLimits(max_model_params=50_000_000)
    with pytest.raises(ValidationError) as raised:
        load_spec(spec, limits, datasets=lambda _: info)
    assert "search_space" in raised.value.messages
    keras_count = build_model_count(info, 512, 256)
    assert keras_count > 50_000_000  # what the check refused is truly that big
    spec["fixed"] = {"n_layers": 1, "categorical_encoding": "one_hot"}
    assert load_spec(spec, limits, datasets=lambda _: info).tabular


def build_model_count(info: Any, units: int, dim: int) -> int:
    from worker.engine.models import build_model

    config = configuration({"n_layers": 1, "units": units, "categorical_encoding": "embedding",
                            "embedding_dim": dim}, {}, "mlp", info.task, True)  # fmt: skip
    model = build_model("mlp", config, (200,), info.task, 2, embedded=[1001] * 200)
    return int(model.count_params())


def test_k_fold_fits_the_encoding_inside_each_fold(spec: dict[str, Any]) -> None:
    from service.core.spec import ValidationMethod, ValidationSpec
    from worker.engine.training import fit_trial

    data, ref = table()
    job = table_spec(ref, spec)
    job = dataclasses.replace(
        job,
        training=dataclasses.replace(
            job.training, validation=ValidationSpec(ValidationMethod.KFOLD, folds=3)
        ),
    )
    config = configuration(job.fixed, {}, "mlp", job.task, job.tabular)
    folds = validation_folds(job, data)
    encoders = [TableEncoder(data.columns or ()).fit(fold[0]) for fold in folds]
    medians = {part.median for e in encoders for part in e.parts if hasattr(part, "median")}
    assert len(medians) == 3  # each fold's own training rows
    result = fit_trial(job, config, data, seed=0)
    assert len(result.details["folds"]) == 3 and "val_balanced_accuracy" in result.metrics
