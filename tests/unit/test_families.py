"""An operator's family as data: a definition checks what a plugin declares (a broken one is
refused with the reason), becomes the job's vocabulary (training knobs and its own names), and
a job on it round-trips through the store's form with the definition kept beside the spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.core.families import definition_from
from service.core.spec import load_spec, spec_from_dict, spec_to_dict
from service.core.store.codec import decode_job, encode_spec

TINY = {
    "name": "tiny_stack",
    "hyperparameters": [
        {"name": "depth", "kind": "int", "low": 1, "high": 4, "default": 1},
        {"name": "squash", "kind": "choice", "choices": ["relu", "tanh"], "default": "relu"},
    ],
}


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"name": "Bad Name"}, "family name"),
        ({"name": "mlp"}, "built-in"),
        ({"hyperparameters": [{"name": "learning_rate", "kind": "float", "low": 0, "high": 1,
                               "default": 0.1}]}, "training hyperparameter"),
        ({"hyperparameters": [{"name": "x", "kind": "int", "low": 5, "high": 1, "default": 3}]},
         "low <= high"),
        ({"hyperparameters": [{"name": "x", "kind": "int", "low": 1, "high": 5, "default": 9}]},
         "default"),
        ({"hyperparameters": [{"name": "x", "kind": "tensor"}]}, "kind"),
        ({"tasks": ["ranking"]}, "tasks"),
    ],
)  # fmt: skip
def test_a_broken_definition_is_refused_with_why(change: dict[str, Any], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        definition_from({**TINY, **change})


def test_a_family_job_keeps_its_definition_through_the_store() -> None:
    family = definition_from(TINY)
    assert definition_from(json.loads(json.dumps(family.to_json()))) == family
    spec = load_spec(
        {"dataset": {"builtin": "iris"}, "model": {"family": "tiny_stack"},
         "search_space": {"depth": {"type": "int", "low": 1, "high": 3}},
         "fixed": {"squash": "tanh", "learning_rate": 0.01}},
        families={"tiny_stack": family}.get,
    )  # fmt: skip
    assert spec.model.plugin == family and spec.name == "iris-tiny_stack"
    config = spec.configuration({"depth": 2})
    assert config["depth"] == 2 and config["squash"] == "tanh" and "n_layers" not in config
    assert spec_to_dict(spec)["model"] == {"family": "tiny_stack"}
    assert spec_from_dict(spec_to_dict(spec), family=family) == spec
    fields = encode_spec(spec)
    raw = {"id": "j" * 32, "tenant": "t", "name": spec.name, "status": "queued",
           "max_trials": "20", **fields}  # fmt: skip
    assert decode_job(raw, []).spec == spec
