"""The Celery options both sides share, and the checks that refuse unsafe ones."""

from __future__ import annotations

import dataclasses

import pytest

from service.core.contract import celery_config, check_celery_config, options_fingerprint
from service.core.settings import Settings, SettingsError


def test_our_configuration_passes_and_is_json_only() -> None:
    settings = Settings()
    conf = celery_config(settings)
    check_celery_config(conf, settings)
    assert conf["accept_content"] == ["json"] and conf["task_acks_late"] is True
    assert conf["worker_prefetch_multiplier"] == 1 and conf["task_ignore_result"] is True


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("task_serializer", "pickle", "JSON only"),
        ("accept_content", ["json", "pickle"], "JSON only"),
        ("task_acks_late", False, "task_acks_late"),
        ("broker_transport_options", {"visibility_timeout": 3600}, "visibility_timeout"),
    ],
)
def test_unsafe_options_fail_fast(option: str, value: object, message: str) -> None:
    settings = Settings()
    conf = {**celery_config(settings), option: value}
    with pytest.raises(SettingsError, match=message):
        check_celery_config(conf, settings)


def test_fingerprint_changes_with_shared_options_only() -> None:
    base = Settings()
    same = options_fingerprint(celery_config(dataclasses.replace(base, max_trials_limit=5)))
    other = options_fingerprint(
        celery_config(dataclasses.replace(base, visibility_timeout_s=base.visibility_timeout_s + 1))
    )
    assert options_fingerprint(celery_config(base)) == same != other


def test_the_clients_job_statuses_are_the_servers() -> None:
    """The standard-library client spells the statuses itself (``service.core.wire``)."""
    from service.core.records import JobStatus
    from service.core.wire import FINISHED, JOB_STATUSES

    assert tuple(s.value for s in JobStatus) == JOB_STATUSES
    assert tuple(s.value for s in JobStatus if s.is_finished) == FINISHED
