from __future__ import annotations

from typing import Any

from service.core.spec import load_spec
from service.core.vocabulary import configuration
from worker.engine.synthetic import run_synthetic, synthetic_score


def test_score_prefers_the_documented_optimum() -> None:
    best = configuration({}, {"learning_rate": 3e-3, "units": 128, "dropout": 0.15})
    worse = configuration({}, {"learning_rate": 1e-6, "units": 128, "dropout": 0.15})
    assert synthetic_score(best) > 0.95 > synthetic_score(worse)


def test_curves_rise_and_can_be_stopped(spec: dict[str, Any]) -> None:
    spec["model"] = {"family": "synthetic", "sleep_s": 0.0}
    job = load_spec(spec)
    result = run_synthetic(job, configuration({}, {}), 0)
    curve = result.history["val_accuracy"]
    assert result.epochs == job.training.max_epochs == len(curve)
    assert curve == sorted(curve)
    assert result.metrics["val_accuracy"] == curve[-1]
    stopped = run_synthetic(job, configuration({}, {}), 0, on_epoch=lambda e, h: e < 3)
    assert stopped.epochs == 3


def test_synthetic_family_is_refused_unless_enabled(spec: dict[str, Any]) -> None:
    from marshmallow import ValidationError

    from service.core.spec import SpecLimits

    spec["model"] = {"family": "synthetic", "sleep_s": 1.0}
    try:
        load_spec(spec, SpecLimits())
    except ValidationError as exc:
        assert "family" in exc.messages["model"]
    else:
        raise AssertionError("synthetic accepted without allow_synthetic")
    assert load_spec(spec, SpecLimits(allow_synthetic=True)).model.sleep_s == 1.0
    spec["model"] = {"family": "mlp", "crash_trials": [1]}
    try:
        load_spec(spec)
    except ValidationError as exc:
        assert "crash_trials" in exc.messages["model"]
    else:
        raise AssertionError("fault injection accepted for a real model family")


def test_a_synthetic_configuration_without_dense_layers_scores() -> None:
    from worker.engine.synthetic import synthetic_score

    config = configuration({"n_layers": 0}, {}, "synthetic", "classification")
    assert "units" not in config and 0.05 <= synthetic_score(config) <= 0.99
