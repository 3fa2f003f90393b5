"""Each learning-rate schedule gives the specified rate at given optimizer steps."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import pytest

from service.core.vocabulary import configuration
from worker.engine.schedules import learning_rate, schedule_callbacks

STEPS_PER_EPOCH = 10


def rate_at(schedule: Any, step: int) -> float:
    return float(schedule(step)) if callable(schedule) else float(schedule)


def make(**params: Any) -> Any:
    return learning_rate(configuration({}, {"learning_rate": 0.1, **params}), STEPS_PER_EPOCH, 20)


def test_constant() -> None:
    assert make() == 0.1


def test_exponential_smooth_and_staircase() -> None:
    smooth = make(lr_schedule="exponential", decay_rate=0.5, decay_steps=10)
    assert rate_at(smooth, 0) == pytest.approx(0.1)
    assert rate_at(smooth, 5) == pytest.approx(0.1 * 0.5**0.5)
    assert rate_at(smooth, 20) == pytest.approx(0.025)
    stairs = make(lr_schedule="exponential", decay_rate=0.5, decay_steps=10, staircase=True)
    assert rate_at(stairs, 9) == pytest.approx(0.1)
    assert rate_at(stairs, 10) == pytest.approx(0.05)


def test_step_drops_every_step_epochs() -> None:
    schedule = make(lr_schedule="step", drop=0.5, step_epochs=3)
    assert rate_at(schedule, 3 * STEPS_PER_EPOCH - 1) == pytest.approx(0.1)
    assert rate_at(schedule, 3 * STEPS_PER_EPOCH) == pytest.approx(0.05)
    assert rate_at(schedule, 6 * STEPS_PER_EPOCH) == pytest.approx(0.025)


def test_cosine_decays_to_zero_over_the_run() -> None:
    schedule = make(lr_schedule="cosine")
    total = 20 * STEPS_PER_EPOCH
    assert rate_at(schedule, 0) == pytest.approx(0.1)
    assert rate_at(schedule, total // 2) == pytest.approx(0.05, rel=1e-3)
    assert rate_at(schedule, total) == pytest.approx(0.0, abs=1e-6)


def test_warmup_rises_linearly_then_follows_the_schedule() -> None:
    schedule = make(lr_schedule="step", drop=0.5, step_epochs=1, warmup_epochs=2)
    warm = 2 * STEPS_PER_EPOCH
    assert rate_at(schedule, 0) == pytest.approx(0.1 / warm)
    assert rate_at(schedule, warm // 2 - 1) == pytest.approx(0.05)
    assert rate_at(schedule, warm) == pytest.approx(0.1)  # the step schedule starts here
    assert rate_at(schedule, warm + STEPS_PER_EPOCH) == pytest.approx(0.05)
    assert rate_at(make(warmup_epochs=1), 100) == pytest.approx(0.1)


def test_reduce_on_plateau_lowers_the_rate_in_training() -> None:
    config = configuration(
        {},
        {
            "learning_rate": 0.1,
            "lr_schedule": "reduce_on_plateau",
            "plateau_factor": 0.5,
            "plateau_patience": 0,
            "warmup_epochs": 1,
        },
    )
    assert learning_rate(config, 1, 5) == 0.1
    callbacks = schedule_callbacks(config, 4, "loss")
    plateau = callbacks[-1]
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert plateau.factor == 0.5 and plateau.patience == 0
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    x = np.zeros((16, 1), dtype=np.float32)  # the loss cannot improve: every epoch plateaus
    history = model.fit(x, x, batch_size=4, epochs=3, callbacks=callbacks, verbose=0)
    rates = history.history["learning_rate"]
    assert rates[0] == pytest.approx(0.1)  # warmup ended at the peak
    assert rates[-1] < rates[0]
    assert math.isclose(rates[1] / rates[0], 0.5, rel_tol=1e-5) or rates[1] == rates[0]


def test_inactive_schedule_parameters_are_absent() -> None:
    config = configuration({}, {"lr_schedule": "step", "decay_rate": 0.9})
    assert "decay_rate" not in config and config["drop"] == 0.5
