"""`SITELENS_WEBHOOKS_ALLOW_LOOPBACK` is honoured only when every storage endpoint is loopback (Azurite)."""

from __future__ import annotations

import logging

import pytest

from shared import composition, health
from shared.config import ConfigError, Settings, dev_storage_connection_string

ALLOW = {"SITELENS_WEBHOOKS_ALLOW_LOOPBACK": "true"}
REAL_ACCOUNT = "DefaultEndpointsProtocol=https;AccountName=sitelensprod;AccountKey=a2V5;EndpointSuffix=core.windows.net"
MANAGED_IDENTITY = {
    f"AzureWebJobsStorage__{service}ServiceUri": f"https://sitelensprod.{service}.core.windows.net"
    for service in ("blob", "queue", "table")
}


@pytest.mark.parametrize(
    "storage",
    [
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true"},
        {"AzureWebJobsStorage": dev_storage_connection_string("127.0.0.1", (41000, 41001, 41002))},
        {"AzureWebJobsStorage": dev_storage_connection_string("localhost")},
        {"AzureWebJobsStorage": dev_storage_connection_string("[::1]")},
        {f"AzureWebJobsStorage__{s}ServiceUri": f"http://127.0.0.1:1000{i}/devstoreaccount1"
         for i, s in enumerate(("blob", "queue", "table"))},
    ],
    ids=["UseDevelopmentStorage", "azurite", "localhost", "ipv6-loopback", "service-uris"],
)  # fmt: skip
def test_the_local_stack_keeps_the_allowance(storage: dict[str, str]):
    assert Settings.from_env({**storage, **ALLOW}).webhooks_allow_loopback is True


@pytest.mark.parametrize(
    "env",
    [
        {"AzureWebJobsStorage": REAL_ACCOUNT},  # endpoints derived from the account name
        MANAGED_IDENTITY,  # Container Apps, AKS or self-hosted with a managed identity: no App Service marker
        {"AzureWebJobsStorage": dev_storage_connection_string().replace(
            "QueueEndpoint=http://127.0.0.1:10001", "QueueEndpoint=https://sitelensprod.queue.core.windows.net")},
        {"AzureWebJobsStorage": dev_storage_connection_string("azurite")},  # a DNS name may resolve anywhere
        {"AzureWebJobsStorage": dev_storage_connection_string("127.0.0.1.nip.io")},
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "WEBSITE_INSTANCE_ID": "abc"},  # App Service
    ],
    ids=["account-key", "managed-identity", "one-real-endpoint", "dns-name", "dns-trick", "app-service"],
)  # fmt: skip
def test_any_storage_endpoint_off_loopback_refuses_it_with_its_own_reason(env: dict[str, str]):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**env, **ALLOW})
    assert info.value.reason == "webhooks_allow_loopback_refused"
    assert "SITELENS_WEBHOOKS_ALLOW_LOOPBACK" in str(info.value)
    assert Settings.from_env(env).webhooks_allow_loopback is False  # without it, the same storage is fine


def test_the_refusal_keeps_its_reason_when_other_settings_are_wrong_too():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**MANAGED_IDENTITY, **ALLOW, "SITELENS_TASK_MAX_RETRIES": "lots"})
    assert info.value.reason == "webhooks_allow_loopback_refused" and "lots" in str(info.value)


def test_functions_answer_a_503_problem_document_health_says_why_and_the_log_has_a_clear_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    for name, value in {**MANAGED_IDENTITY, **ALLOW}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    composition.settings.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="shared.composition"):
            refused = composition.unavailable()
        assert refused is not None
        status, doc = refused
        assert status == doc["status"] == 503 and doc["reason"] == "webhooks_allow_loopback_refused"
        assert doc["type"].endswith("reason-codes.md#webhooks_allow_loopback_refused")
        assert [r.getMessage() for r in caplog.records if "webhooks_allow_loopback_refused" in r.getMessage()]
        assert health.assess(composition.health_checks).summary() == {
            "status": "misconfigured", "reason": "webhooks_allow_loopback_refused",
        }  # fmt: skip
        with pytest.raises(ConfigError):  # queue and timer triggers fail (the message is kept for a retry)
            composition.webhooks()
    finally:
        composition.settings.cache_clear()
