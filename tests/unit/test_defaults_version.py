"""A job keeps the defaults it was submitted under: a deploy that changes a default rewrites
neither what a running job trains nor what an old job shows, and warm starts do not compare
across them."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from marshmallow import ValidationError

from service.core import vocabulary
from service.core.spec import load_spec, spec_from_dict, spec_to_dict
from service.core.vocabulary import active_params, configuration
from worker.engine.lineage import comparable


def conv_spec(**extra: Any) -> dict[str, Any]:
    return {
        "dataset": {"builtin": "digits"},
        "model": {"family": "conv1d"},
        "search_space": {"units": {"type": "int", "low": 8, "high": 64}},
        "fixed": {"n_layers": 1},
        **extra,
    }


def trained(spec: Any, params: dict[str, Any]) -> dict[str, Any]:
    return configuration(spec.resolved_fixed, params, spec.model.family, spec.task)


def test_a_new_job_is_stamped_with_the_current_defaults() -> None:
    job = load_spec(conv_spec())
    assert job.defaults_version == vocabulary.DEFAULTS_VERSION
    assert spec_to_dict(job)["defaults_version"] == vocabulary.DEFAULTS_VERSION
    config = trained(job, {"units": 16})
    assert (config["conv_blocks"], config["kernel_size"], config["global_pooling"]) == (
        3, 5, "average",
    )  # fmt: skip


def test_a_job_stored_before_versioning_keeps_the_first_defaults() -> None:
    stored = spec_to_dict(load_spec(conv_spec(fixed={}, defaults_version=1)))
    del stored["defaults_version"]  # as a spec stored before this change reads
    old = spec_from_dict(stored)
    assert old.defaults_version == 1
    config = trained(old, {"units": 16})
    assert (config["conv_blocks"], config["kernel_size"], config["global_pooling"]) == (
        2, 3, "none",
    )  # fmt: skip
    assert config["n_layers"] == 2 and config["units_1"] == 16
    # its searched width stays active: the first defaults had two dense layers (today: none)
    assert active_params(old.resolved_fixed, {"units": 16}, "conv1d", old.task) == {"units": 16}
    new = dataclasses.replace(old, defaults_version=vocabulary.DEFAULTS_VERSION)
    assert not comparable(old, new) and comparable(old, spec_from_dict(spec_to_dict(old)))


def test_a_spec_copied_from_an_old_job_reruns_it_as_it_was() -> None:
    """units is searched with no fixed n_layers: never active under today's conv defaults (no
    dense layer), active under the first ones."""
    with pytest.raises(ValidationError) as raised:
        load_spec(conv_spec(fixed={}))
    assert "units" in raised.value.messages["search_space"]  # type: ignore[index, call-overload]
    again = load_spec(conv_spec(fixed={}, defaults_version=1))
    assert again.defaults_version == 1 and load_spec(spec_to_dict(again)) == again


@pytest.mark.parametrize("version", [0, vocabulary.DEFAULTS_VERSION + 1, "2", True, 1.5])
def test_an_unknown_defaults_version_is_refused(version: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        load_spec(conv_spec(defaults_version=version))
    assert "defaults_version" in raised.value.messages
