"""Standardization that fits the family: per column for tables, per channel for conv families
(so a convolution sees a pattern the same wherever it is), built into the exported model."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from service.core.spec import load_spec
from service.core.vocabulary import configuration
from worker.engine.dataset_loader import load_builtin
from worker.engine.models import build_model
from worker.engine.refit import refit
from worker.engine.scaling import FeatureScaler

RNG = np.random.default_rng(0)


def signals(rows: int = 64, length: int = 32) -> np.ndarray:
    """Signals whose level and spread change along their length, as real recordings do."""
    positions = np.arange(length)
    return RNG.normal(size=(rows, length)) * (1 + positions / 8) + positions / 4


def test_a_table_is_scaled_per_column() -> None:
    x = RNG.normal(size=(50, 4)) * [1, 10, 100, 0] + [0, 5, -3, 7]
    ours = FeatureScaler.for_family("mlp", (4,)).fit(x)
    theirs = StandardScaler().fit(x)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x))


def test_sequences_and_images_are_scaled_per_channel() -> None:
    sequence = FeatureScaler.for_family("conv1d", (32, 1)).fit(signals())
    assert np.ptp(sequence.mean_) == 0 and np.ptp(sequence.scale_) == 0  # one shift, one scale
    images = RNG.normal(size=(20, 4 * 4 * 3)) * np.tile([1.0, 5.0, 9.0], 16)
    scaler = FeatureScaler.for_family("conv2d", (4, 4, 3)).fit(images)
    per_channel = scaler.scale_.reshape(16, 3)
    assert np.allclose(per_channel, per_channel[0])  # the same for every pixel
    assert per_channel[0][0] < per_channel[0][1] < per_channel[0][2]  # its own per channel


def first_conv_map(model: keras.Model, x: np.ndarray) -> np.ndarray:
    probe = keras.Model(model.inputs, model.get_layer("conv_1").output)
    return np.asarray(probe.predict(x, verbose=0))[..., 0]


@pytest.mark.parametrize(("scaler", "equivariant"), [("per channel", True), ("per column", False)])
def test_a_shifted_signal_gives_a_shifted_activation_map(scaler: str, equivariant: bool) -> None:
    """What a convolution relies on; per-column scaling (the old way, kept here to show the
    test can tell) breaks it."""
    train = signals()
    fitted: Any = (
        FeatureScaler.for_family("conv1d", (32, 1)) if scaler == "per channel" else StandardScaler()
    ).fit(train)
    config = configuration({}, {"conv_blocks": 1, "pooling": "none", "filters": 2}, "conv1d")
    keras.utils.set_random_seed(0)
    model = build_model("conv1d", config, (32, 1), "classification", 3)
    bump = np.zeros((1, 32))
    bump[0, 8:11] = [3.0, 6.0, 3.0]
    shifted = np.roll(bump, 10, axis=1)
    before, after = (
        first_conv_map(model, fitted.transform(bump)),
        first_conv_map(model, fitted.transform(shifted)),
    )
    same = np.allclose(after[0, 12:25], before[0, 2:15], atol=1e-5)
    assert same == equivariant


def test_the_exported_conv_model_takes_raw_features(spec: dict[str, Any], tmp_path: Any) -> None:
    spec["model"] = {"family": "conv2d"}
    spec["dataset"] = {"builtin": "digits"}
    job = load_spec(spec)
    data = load_builtin("digits")
    config = configuration(job.fixed, {"conv_blocks": 1, "filters": 4}, "conv2d")
    done = refit(job, config, data, epochs=2, seed=0, method="fixed_epochs")
    scores = done.test_metrics
    path = tmp_path / "model.keras"
    path.write_bytes(done.model)
    predicted = keras.saving.load_model(path).predict(data.x_test, verbose=0).argmax(axis=1)
    assert float(np.mean(predicted == data.y_test)) == pytest.approx(scores["test_accuracy"])
