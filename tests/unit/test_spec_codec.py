"""The stored form of a spec decodes to the very spec the schemas loaded, for every kind of
spec, so workers and views can skip the schemas; and loaded specs cannot be changed in place."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from service.core.catalog import DatasetInfo
from service.core.spec import load_spec, spec_from_dict, spec_to_dict
from service.core.spec.codec import info_from_dict, info_to_dict
from tests.helpers import VALID_SPEC, synthetic_spec

UPLOADED = DatasetInfo(
    "a" * 64, "classification", 64, 4, 500, image_shape=(8, 8, 1), has_validation=True,
    min_class_count=20,
)  # fmt: skip


def variant(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID_SPEC)
    for path, value in changes.items():
        node = body
        *parents, leaf = path.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return body


SPECS = {
    "bayesian": VALID_SPEC,
    "synthetic": synthetic_spec(4, 0.5, crash_trials=[1], hang_trials=[2]),
    "grid": variant(search={"strategy": "grid", "grid_steps": 3, "grid_sample": True}),
    "pruning": variant(search__pruning={"rule": "asha", "min_epochs": 2}, search__parallelism=2),
    "kfold": variant(training__validation={"method": "kfold", "folds": 3}),
    "limits": variant(training__time_limit_s=30, training__hard_time_limit_s=60),
    "range test": variant(search_space={}, search={"strategy": "lr_range_test"}),
    "warm start": variant(search__warm_start=["b" * 32], search__max_duration_s=600),
    "conv2d": {
        **variant(model={"family": "conv2d", "input_shape": [8, 8]}),
        "dataset": {"builtin": "digits"},
    },
    "webhook": variant(callback_url="https://hooks.example.com/x"),
    "regression": {
        **variant(fixed={"loss": "huber", "n_layers": 2}),
        "dataset": {"builtin": "diabetes"},
        "training": {"objective": {"metric": "val_mae", "direction": "min"}},
    },
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_stored_form_decodes_to_the_same_spec(name: str) -> None:
    loaded = load_spec(SPECS[name])
    stored = json.loads(json.dumps(spec_to_dict(loaded)))
    assert spec_from_dict(stored) == loaded
    assert load_spec(stored) == loaded  # and it is still a valid spec


def test_an_uploaded_dataset_travels_with_its_description() -> None:
    body = {**VALID_SPEC, "dataset": {"id": UPLOADED.name}}
    loaded = load_spec(body, datasets={UPLOADED.name: UPLOADED}.get)
    stored = json.loads(json.dumps(spec_to_dict(loaded)))
    assert stored["dataset"] == {"id": UPLOADED.name}  # the wire shows the reference only
    info = info_from_dict(json.loads(json.dumps(info_to_dict(UPLOADED))))
    assert info == UPLOADED
    decoded = spec_from_dict(stored, info)
    assert decoded == loaded and decoded.dataset.info == UPLOADED
    with pytest.raises(ValueError, match="needs its description"):
        spec_from_dict(stored)


def test_a_loaded_spec_is_read_only() -> None:
    loaded = load_spec(VALID_SPEC)
    with pytest.raises(TypeError):
        loaded.search_space["units"] = loaded.search_space["learning_rate"]  # type: ignore[index]
    with pytest.raises(TypeError):
        loaded.fixed["n_layers"] = 3  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        loaded.search.max_trials = 100  # type: ignore[misc]
