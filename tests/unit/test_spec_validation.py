"""Every way a client can get the job spec wrong ends in a 422 naming the field, and nothing
reaches the store or the queue."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.app import create_app
from service.core.settings import Settings
from service.core.spec import load_spec, spec_from_dict, spec_to_dict
from service.core.spec.types import SpecLimits, ValidationMethod, ValidationSpec
from service.core.store import JobNotFound, JobRead


class Untouchable:
    """Stands in for the store and the dispatcher: any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"invalid input reached {name}")


@pytest.fixture
def client() -> FlaskClient:
    settings = Settings(
        max_trials_limit=100,
        max_epochs_limit=200,
        max_request_bytes=64 * 1024,
        auth_disabled=True,
        rate_limit_per_minute=0,  # no budget to count: nothing may touch the store
    )
    app = create_app(settings, store=Untouchable(), dispatcher=Untouchable())  # type: ignore[arg-type]
    return app.test_client()


def submit(client: FlaskClient, body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/jobs", json=body)
    return response.status_code, response.get_json()


def assert_field_error(client: FlaskClient, body: Any, path: str) -> None:
    status, payload = submit(client, body)
    assert status == 422, payload
    assert payload["error"]["code"] == "validation_error"
    assert path in payload["error"]["fields"], payload["error"]["fields"]
    assert all(isinstance(m, str) and m for m in payload["error"]["fields"][path])


def test_valid_spec_loads(spec: dict[str, Any]) -> None:
    loaded = load_spec(spec)
    assert loaded.search.max_trials == 5
    assert loaded.search_space["units"].log is True
    assert loaded.training.objective.metric == "val_accuracy"
    assert load_spec(spec_to_dict(loaded)) == loaded
    assert spec_from_dict(spec_to_dict(loaded)) == loaded


def test_unknown_hyperparameter(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["search_space"]["warp_drive"] = {"type": "float", "low": 0, "high": 1}
    assert_field_error(client, spec, "search_space.warp_drive")


def test_unknown_fixed_hyperparameter(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["fixed"]["keras_config"] = {"class_name": "Lambda"}
    assert_field_error(client, spec, "fixed.keras_config")


def test_empty_choices(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["search_space"]["activation"]["choices"] = []
    assert_field_error(client, spec, "search_space.activation.choices")


def test_choice_outside_vocabulary(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["search_space"]["activation"]["choices"] = ["relu", "softmax_of_doom"]
    assert_field_error(client, spec, "search_space.activation.choices.1")


def test_low_not_below_high(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["search_space"]["units"] = {"type": "int", "low": 32, "high": 32}
    assert_field_error(client, spec, "search_space.units.low")


def test_log_scale_needs_positive_low(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["search_space"]["learning_rate"]["low"] = 0.0
    assert_field_error(client, spec, "search_space.learning_rate.low")


def test_range_outside_hyperparameter_bounds(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["search_space"]["dropout"] = {"type": "float", "low": 0.1, "high": 1.5}
    assert_field_error(client, spec, "search_space.dropout.high")


def test_float_dimension_for_integer_hyperparameter(
    client: FlaskClient, spec: dict[str, Any]
) -> None:
    spec["search_space"]["units"] = {"type": "float", "low": 4.0, "high": 32.0}
    assert_field_error(client, spec, "search_space.units.type")


@pytest.mark.parametrize("value", [0, -1, 101, "10", 2.5, True, None])
def test_max_trials_out_of_range_or_wrong_type(
    client: FlaskClient, spec: dict[str, Any], value: Any
) -> None:
    spec["search"]["max_trials"] = value
    assert_field_error(client, spec, "search.max_trials")


@pytest.mark.parametrize(
    ("field", "value"),
    [("finalists", -1), ("finalists", 11), ("finalists", "3"), ("finalist_folds", 1),
     ("finalist_folds", 11), ("finalist_folds", 2.5), ("finalist_folds", None)],
)  # fmt: skip
def test_finalists_out_of_range_or_wrong_type(
    client: FlaskClient, spec: dict[str, Any], field: str, value: Any
) -> None:
    spec["search"][field] = value
    assert_field_error(client, spec, f"search.{field}")


def test_max_epochs_over_limit(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["training"]["max_epochs"] = 10_000
    assert_field_error(client, spec, "training.max_epochs")


def test_unknown_dataset(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["dataset"] = {"builtin": "imagenet"}
    assert_field_error(client, spec, "dataset.builtin")


def test_missing_dataset(client: FlaskClient, spec: dict[str, Any]) -> None:
    del spec["dataset"]
    assert_field_error(client, spec, "dataset")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("search_space.units.low", "4"),
        ("search_space.learning_rate.log", "yes"),
        ("training.validation.split", "0.2"),
        ("training.early_stopping.patience", 2.5),
        ("search.seed", "seven"),
        ("search.strategy", 3),
        ("name", 12),
        ("fixed.n_layers", "two"),
    ],
)
def test_wrong_types(client: FlaskClient, spec: dict[str, Any], path: str, value: Any) -> None:
    node = spec
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    assert_field_error(client, spec, path)


@pytest.mark.parametrize(
    "path",
    [
        "surprise",
        "search.turbo",
        "training.objective.weight",
        "search_space.units.step",
        "dataset.url",
    ],
)
def test_extra_unknown_fields(client: FlaskClient, spec: dict[str, Any], path: str) -> None:
    node = spec
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = 1
    assert_field_error(client, spec, path)


def test_searched_and_fixed_at_once(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["fixed"]["units"] = 8
    assert_field_error(client, spec, "fixed.units")


def test_objective_must_fit_the_task(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["training"]["objective"] = {"metric": "val_mse", "direction": "min"}
    assert_field_error(client, spec, "training.objective.metric")
    spec["training"]["objective"] = {"metric": "val_accuracy", "direction": "min"}
    assert_field_error(client, spec, "training.objective.direction")


def test_early_stopping_monitor_must_exist(client: FlaskClient, spec: dict[str, Any]) -> None:
    spec["training"]["early_stopping"]["monitor"] = "val_auc"
    assert_field_error(client, spec, "training.early_stopping.monitor")


def test_non_finite_numbers(client: FlaskClient, spec: dict[str, Any]) -> None:
    body = (
        '{"dataset": {"builtin": "iris"}, "search_space": '
        '{"dropout": {"type": "float", "low": 0, "high": NaN}}}'
    )
    response = client.post("/v1/jobs", data=body, content_type="application/json")
    assert response.status_code == 422
    assert "search_space.dropout.high" in response.get_json()["error"]["fields"]


def test_body_that_is_not_an_object(client: FlaskClient) -> None:
    status, payload = submit(client, [1, 2, 3])
    assert status == 422
    assert "body" in payload["error"]["fields"]


@pytest.mark.parametrize("body", ["{not json", "", "[" * 30_000 + "]" * 30_000])
def test_malformed_json_is_400(client: FlaskClient, body: str) -> None:
    response = client.post("/v1/jobs", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"


def test_oversized_body_is_413(client: FlaskClient) -> None:
    response = client.post("/v1/jobs", data="x" * (65 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("job_id", ["nope", "0" * 32, "../../etc/passwd"])
def test_unknown_or_malformed_job_id_is_404(job_id: str) -> None:
    class NoJobs:
        def get(self, job_id: str) -> None:
            raise JobNotFound(job_id)

        def read(
            self, job_id: str, key_digest: Any = None, budget: Any = None, known: Any = None
        ) -> object:
            return JobRead(job=None, best=None, key_digest=None, key_tenant=None)

    class EmptyStore:
        jobs = NoJobs()

    settings = Settings(auth_disabled=True, rate_limit_per_minute=0)
    app = create_app(settings, store=EmptyStore(), dispatcher=Untouchable())  # type: ignore[arg-type]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/trials"):
        response = app.test_client().get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


def test_wrong_method_is_405_in_the_error_shape(client: FlaskClient) -> None:
    response = client.put("/v1/jobs")
    assert response.status_code == 405
    assert set(response.get_json()["error"]) == {"code", "message", "fields"}


def _grid(spec: dict[str, Any]) -> dict[str, Any]:
    spec["search"] = {"strategy": "grid", "max_trials": 10, "grid_steps": 5}
    return spec


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda s: s["search_space"].update(filters={"type": "int", "low": 4, "high": 8}),
         "search_space.filters"),
        (lambda s: s["fixed"].update(loss="huber"), "fixed.loss"),
        (lambda s: s["fixed"].update(optimizer="adam", momentum=0.9), "fixed.momentum"),
        (lambda s: s["search_space"].update(
            n_layers={"type": "int", "low": 1, "high": 3},
            units_4={"type": "int", "low": 4, "high": 8}), "search_space.units_4"),
        (lambda s: s["search_space"].update(
            decay_rate={"type": "float", "low": 0.5, "high": 0.9}), "search_space.decay_rate"),
        (lambda s: s["fixed"].update(n_layers=0), "search_space.units"),
        (_grid, "search.max_trials"),
        (lambda s: s["search_space"]["activation"].update(steps=3),
         "search_space.activation.steps"),
        (lambda s: s.update(model={"family": "conv2d"}), "model.input_shape"),
        (lambda s: s.update(model={"family": "mlp", "input_shape": [2, 2]}), "model.input_shape"),
        (lambda s: s["training"].update(validation={"method": "dataset"}),
         "training.validation.method"),
        (lambda s: s["training"].update(validation={"method": "kfold", "folds": 11}),
         "training.validation.folds"),
        (lambda s: (s["training"].update(validation={"method": "kfold"}),
                    s["search"].update(pruning={})), "search.pruning"),
        (lambda s: (s["training"].update(objective={"metric": "val_f1"}),
                    s["search"].update(pruning={})), "search.pruning"),
        (lambda s: s["search"].update(strategy="lr_range_test"), "search_space"),
        (lambda s: s.update(search={"strategy": "lr_range_test",
                                    "lr_range": {"min_lr": 1, "max_lr": 0.1}},
                            search_space={}), "search.lr_range.min_lr"),
        (lambda s: s["search"].update(initial_point_generator="magic"),
         "search.initial_point_generator"),
        (lambda s: s["search"].update(warm_start=["../../etc"]), "search.warm_start.0"),
        (lambda s: s.update(search_space={}), "search_space"),
        (lambda s: s["search_space"].update(
            n_layers={"type": "int", "low": 1, "high": 8},
            units={"type": "int", "low": 16, "high": 2048}), "search_space"),
    ],
)  # fmt: skip
def test_fields_that_do_not_fit_together(change: Any, path: str, spec: dict[str, Any]) -> None:
    settings = Settings(
        max_model_params=1_000_000,
        max_trials_limit=100,
        auth_disabled=True,
        rate_limit_per_minute=0,
    )
    app = create_app(settings, store=Untouchable(), dispatcher=Untouchable())  # type: ignore[arg-type]
    change(spec)
    assert_field_error(app.test_client(), spec, path)


def test_valid_combinations_load(spec: dict[str, Any]) -> None:
    spec["dataset"] = {"builtin": "digits"}
    spec["model"] = {"family": "conv2d"}
    spec["search_space"].update(
        filters={"type": "int", "low": 4, "high": 16},
        pooling={"type": "categorical", "choices": ["max", "none"]},
        optimizer={"type": "categorical", "choices": ["sgd", "adam"]},
        momentum={"type": "float", "low": 0.0, "high": 0.9},
    )
    spec["search"] = {"strategy": "bayesian", "surrogate": "GBRT", "initial_point_generator": "lhs"}
    job = load_spec(spec)
    assert job.model.family == "conv2d" and job.search.surrogate == "GBRT"
    assert load_spec(spec_to_dict(job)) == job
    assert spec_from_dict(spec_to_dict(job)) == job
    grid = load_spec({**_grid(spec), "search": {"strategy": "grid", "grid_sample": True}})
    assert grid.search.max_trials == 20
    small = {"learning_rate": {"type": "float", "low": 0.001, "high": 0.1, "log": True, "steps": 3}}
    assert (
        load_spec({**spec, "search_space": small, "search": {"strategy": "grid"}}).search.max_trials
        == 3
    )


def test_suggestions_name_public_fields_only(spec: dict[str, Any]) -> None:
    """Fields only the synthetic family reads stay out of "did you mean", as out of the
    public document."""
    from marshmallow import ValidationError

    spec["model"].update(famly="mlp", sleep=1)
    with pytest.raises(ValidationError) as caught:
        load_spec(spec)
    assert caught.value.messages["model"] == {  # type: ignore[index, call-overload]
        "famly": ["Unknown field. Did you mean 'family'?"],
        "sleep": ["Unknown field."],
    }


SMALL = SpecLimits(kfold_below_rows=1000, trial_epochs_per_day=250_000)


def test_a_small_dataset_gets_k_fold_when_the_spec_does_not_say(spec: dict[str, Any]) -> None:
    del spec["training"]["validation"]
    validation = load_spec(spec, SMALL).training.validation  # iris: 150 rows
    assert validation.method == ValidationMethod.KFOLD and validation.folds == 5
    assert validation.reason is not None and "150 rows" in validation.reason
    assert "TUNEQ_KFOLD_BELOW_ROWS" in validation.reason
    # the job's spec says so, and loads again as it is (a copied spec keeps the reason)
    again = load_spec(spec_to_dict(load_spec(spec, SMALL)), SMALL).training.validation
    assert again == validation
    spec["dataset"] = {"builtin": "digits"}  # 1,797 rows: the plain hold-out, no reason
    assert load_spec(spec, SMALL).training.validation == ValidationSpec()
    spec["dataset"] = {"builtin": "iris"}
    assert load_spec(spec).training.validation == ValidationSpec()  # the setting is off (0)


def test_a_small_dataset_keeps_the_hold_out_where_k_fold_cannot_go_and_says_why(
    spec: dict[str, Any],
) -> None:
    del spec["training"]["validation"]
    written = {**spec, "training": {**spec["training"], "validation": {"split": 0.3}}}
    assert load_spec(written, SMALL).training.validation == ValidationSpec(split=0.3)
    pruned = {**spec, "search": {**spec["search"], "pruning": {"rule": "median"}}}
    validation = load_spec(pruned, SMALL).training.validation
    assert validation.method == ValidationMethod.HOLDOUT
    assert validation.reason is not None and "pruning" in validation.reason
    tight = dataclasses.replace(SMALL, trial_epochs_per_day=100)  # 5 trials x 8 epochs x 5
    validation = load_spec(spec, tight).training.validation
    assert validation.method == ValidationMethod.HOLDOUT
    assert validation.reason is not None and "200 trial-epochs" in validation.reason
