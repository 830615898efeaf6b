"""The webhook stale-attempt bound outlasts a live attempt: the app refuses a shorter one, naming the setting and
why, the template's floor is the app's, and the settings the chaos run starts its stack with are accepted."""

from __future__ import annotations

import pytest

from shared import config
from shared.config import MIN_STALE_ATTEMPT_S, STALE_ATTEMPT_S, ConfigError, Settings
from shared.webhooks import endpoint
from sitelens import chaos
from tests.unit.infra import bicep

BASE = {config.STORAGE: config.dev_storage_connection_string()}


@pytest.mark.parametrize("value", ["16", "30", str(MIN_STALE_ATTEMPT_S - 1)])
def test_a_bound_a_live_attempt_can_outlast_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**BASE, STALE_ATTEMPT_S: value})
    assert refused.value.reason == "configuration_error"
    assert f"{STALE_ATTEMPT_S} must be at least {MIN_STALE_ATTEMPT_S:g}, not {float(value):g}" in str(refused.value)
    assert "receiver gets the event twice" in str(refused.value)


def test_the_floor_is_accepted_and_leaves_room_past_the_send() -> None:
    assert Settings.from_env({**BASE, STALE_ATTEMPT_S: f"{MIN_STALE_ATTEMPT_S:g}"}).webhook_stale_attempt_s == 60
    assert MIN_STALE_ATTEMPT_S > 2 * endpoint.TIMEOUT_S


def test_the_template_s_floor_is_the_app_s() -> None:
    parameter = bicep.main()["parameters"]["webhookStaleAttemptSeconds"]
    found = {d["type"]: d["argument"] for d in parameter["decorators"]}
    assert found["min_value"] == MIN_STALE_ATTEMPT_S


def test_the_chaos_run_s_settings_are_accepted() -> None:
    assert Settings.from_env({**BASE, **chaos.SETTINGS}).webhook_stale_attempt_s >= MIN_STALE_ATTEMPT_S
