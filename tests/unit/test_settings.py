from __future__ import annotations

import pytest

from service.core.settings import DEFAULT_REDIS_URL, Settings, SettingsError


def test_defaults_without_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == DEFAULT_REDIS_URL
    assert settings.visibility_timeout_s > settings.trial_lease_s


def test_values_are_parsed_by_type() -> None:
    settings = Settings.from_env(
        {
            "TUNEQ_REDIS_URL": "redis://cache:6380/2",
            "TUNEQ_TRIAL_LEASE_S": "30",
            "TUNEQ_REDIS_TIMEOUT_S": "0.5",
        }
    )
    assert (settings.redis_url, settings.trial_lease_s, settings.redis_timeout_s) == (
        "redis://cache:6380/2",
        30,
        0.5,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"TUNEQ_TRIAL_LEASE_S": "soon"},
        {"TUNEQ_MAX_TRIALS_LIMIT": "0"},
        {"TUNEQ_REDIS_URL": "amqp://guest@localhost//"},
        {"TUNEQ_VISIBILITY_TIMEOUT_S": "30", "TUNEQ_TRIAL_LEASE_S": "60"},
    ],
)
def test_bad_values_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env(env)
