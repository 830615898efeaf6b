"""Every number, port and URL setting is checked when the settings are read: a malformed or out-of-bounds
value is refused at start, named, instead of failing later where a service is built or first used."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared import composition
from shared.config import ConfigError, Settings
from shared.pipeline_settings import MAX_DURATION_S

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
DURATIONS = (
    "SITELENS_STUCK_AFTER_S",
    "SITELENS_GIVE_UP_AFTER_S",
    "SITELENS_WEBHOOK_STALE_ATTEMPT_S",
    "SITELENS_WEBHOOK_LOST_MESSAGE_S",
    "SITELENS_TASK_MAX_WALL_CLOCK_S",
)
BAD_DURATIONS = ("nan", "inf", "-inf", "0", "-600", str(MAX_DURATION_S + 1), "1e308", "15m", "")


def refusal(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError, match="invalid or missing settings") as info:
        Settings.from_env({**BASE, **env})
    assert info.value.reason == "configuration_error"
    return str(info.value)


@pytest.mark.parametrize("name", DURATIONS)
@pytest.mark.parametrize("value", BAD_DURATIONS)
def test_a_duration_that_is_not_a_finite_positive_number_within_the_cap_is_refused(name: str, value: str) -> None:
    assert f"{name} must be" in refusal({name: value})


@pytest.mark.parametrize("name", DURATIONS)
def test_a_duration_at_the_cap_is_read_and_makes_a_timedelta(name: str) -> None:
    settings = Settings.from_env({**BASE, name: str(MAX_DURATION_S)})
    values = (settings.pipeline.stuck_after_s, settings.pipeline.give_up_after_s, settings.webhook_stale_attempt_s,
              settings.webhook_lost_message_s, settings.pipeline.task_max_wall_clock_s)  # fmt: skip
    assert MAX_DURATION_S in values
    assert all(timedelta(seconds=v) for v in values)  # what composition does with them: never raises


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "11", "fast"])
def test_the_webhook_retry_scale_is_finite_positive_and_at_most_ten(value: str) -> None:
    assert "SITELENS_WEBHOOK_RETRY_SCALE must be a number above 0 and at most 10" in refusal(
        {"SITELENS_WEBHOOK_RETRY_SCALE": value}
    )


# The last one is "443" in full-width digits: int() alone would take it.
@pytest.mark.parametrize("value", ["99999", "0", "-1", "443,65536", "443,https", "\uff14\uff14\uff13"])
def test_webhook_ports_other_than_1_to_65535_are_refused(value: str) -> None:
    assert "SITELENS_WEBHOOKS_ALLOWED_PORTS must be a comma-separated list of ports from 1 to 65535" in refusal(
        {"SITELENS_WEBHOOKS_ALLOWED_PORTS": value}
    )


def test_ports_at_both_ends_are_read() -> None:
    env = {**BASE, "SITELENS_WEBHOOKS_ALLOWED_PORTS": "1, 443,65535"}
    assert Settings.from_env(env).webhooks_allowed_ports == {1, 443, 65535}


@pytest.mark.parametrize(
    "url",
    ["mybatch.westeurope.batch.azure.com", "ftp://mybatch.westeurope.batch.azure.com", "https://", "https:///pools",
     "https://mybatch.westeurope.batch.azure.com:99999", "http://[::1"],
)  # fmt: skip
def test_a_batch_url_without_an_http_scheme_and_a_host_is_refused(url: str) -> None:
    assert "SITELENS_BATCH_URL must be an http(s) URL with a host" in refusal({"SITELENS_BATCH_URL": url})


@pytest.mark.parametrize("url", ["https://mybatch.westeurope.batch.azure.com", "http://127.0.0.1:9"])
def test_a_batch_url_with_its_scheme_is_read(url: str) -> None:
    assert Settings.from_env({**BASE, "SITELENS_BATCH_URL": url}).pipeline.batch_url == url


def test_a_storage_service_uri_without_its_scheme_is_refused() -> None:
    env = {f"AzureWebJobsStorage__{s}ServiceUri": f"https://sitelensprod.{s}.core.windows.net"
           for s in ("blob", "queue", "table")}  # fmt: skip
    assert Settings.from_env(env).storage.queue_uri == "https://sitelensprod.queue.core.windows.net"
    env["AzureWebJobsStorage__queueServiceUri"] = "sitelensprod.queue.core.windows.net"
    with pytest.raises(ConfigError, match="AzureWebJobsStorage__queueServiceUri must be an http"):
        Settings.from_env(env)


@pytest.mark.parametrize("value", ["15m", "nan", "inf", "0", "-300", "soon"])
def test_an_upload_sas_lifetime_that_is_not_a_positive_number_is_refused(value: str) -> None:
    assert "SITELENS_UPLOAD_SAS_TTL_S must be a number above 0" in refusal({"SITELENS_UPLOAD_SAS_TTL_S": value})


@pytest.mark.parametrize(("value", "seconds"), [(None, 900), ("300", 300), ("3600", 900), ("10", 60), ("1e308", 900)])
def test_an_upload_sas_lifetime_is_read_once_and_clamped_to_60_900_s(value: str | None, seconds: float) -> None:
    env = BASE if value is None else {**BASE, "SITELENS_UPLOAD_SAS_TTL_S": value}
    assert Settings.from_env(env).upload_sas_ttl_s == seconds


def test_every_problem_is_named_at_once() -> None:
    said = refusal({"SITELENS_STUCK_AFTER_S": "nan", "SITELENS_BATCH_URL": "mybatch.batch.azure.com",
                    "SITELENS_UPLOAD_SAS_TTL_S": "15m", "SITELENS_WEBHOOKS_ALLOWED_PORTS": "99999"})  # fmt: skip
    for name in ("SITELENS_STUCK_AFTER_S", "SITELENS_BATCH_URL", "SITELENS_UPLOAD_SAS_TTL_S", "ALLOWED_PORTS"):
        assert name in said


def test_the_defaults_still_load() -> None:
    settings = Settings.from_env(BASE)
    assert (settings.webhook_stale_attempt_s, settings.webhook_lost_message_s, settings.webhook_retry_scale) == (
        75,
        120,
        1,
    )
    assert (settings.upload_sas_ttl_s, settings.webhooks_allowed_ports) == (900, frozenset({443}))
    assert (settings.pipeline.stuck_after_s, settings.pipeline.give_up_after_s) == (900, 86_400)


@pytest.fixture
def app_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    composition.settings.cache_clear()
    composition.uploads.cache_clear()
    yield monkeypatch
    composition.settings.cache_clear()
    composition.uploads.cache_clear()


@pytest.mark.parametrize(
    ("name", "value"), [("SITELENS_WEBHOOK_STALE_ATTEMPT_S", "nan"), ("SITELENS_UPLOAD_SAS_TTL_S", "15m")]
)
def test_the_app_answers_503_configuration_error_naming_the_setting(app_environment, name: str, value: str) -> None:
    app_environment.setenv(name, value)
    refused = composition.unavailable()
    assert refused is not None
    status, doc = refused
    assert (status, doc["reason"]) == (503, "configuration_error") and name in doc["detail"]


class _Signer:
    def ensure_container(self) -> None:
        pass


def test_the_upload_service_takes_its_lifetime_from_the_settings(app_environment) -> None:
    app_environment.setenv("SITELENS_UPLOAD_SAS_TTL_S", "300")
    app_environment.setattr(composition, "BlobUploadSigner", lambda *a, **k: _Signer())
    app_environment.setattr(composition, "TableReservationStore", lambda *a, **k: object())
    assert composition.uploads().settings.ttl == timedelta(seconds=300)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SITELENS_MAX_PHOTO_BYTES", "1" + "0" * 400),  # an int past a float's range: isfinite overflows
        ("SITELENS_MAX_PHOTO_BYTES", "9" * 5000),  # past int()'s 4,300 digits
        ("SITELENS_STUCK_AFTER_S", "9" * 5000),
        ("SITELENS_WEBHOOKS_ALLOWED_PORTS", "443," + "4" * 5000),
    ],
)
def test_a_number_too_long_to_convert_is_refused_by_name_not_raised(name: str, value: str) -> None:
    assert name in refusal({name: value})
