"""The Batch client's token is for the account's own Azure cloud, chosen from the account URL's host: azure-batch
asks for the public cloud's scope unless told, which Batch in Azure Government or Azure China refuses on every call.
The local stack signs with Shared Key, so only these tests build the token path."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.pipeline.transport import HttpTransport

from shared import composition
from shared.adapters.azure_retry_caps import batch_options
from shared.config import ConfigError, Settings
from shared.pipeline_settings import batch_token_scopes_for

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
PUBLIC = "https://batch.core.windows.net//.default"
USGOV = "https://batch.core.usgovcloudapi.net//.default"
CHINA = "https://batch.chinacloudapi.cn//.default"
CLOUDS = [
    ("https://acct.westeurope.batch.azure.com", PUBLIC),
    ("https://acct.usgovvirginia.batch.usgovcloudapi.net", USGOV),
    ("https://acct.chinanorth3.batch.chinacloudapi.cn", CHINA),
]


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        *CLOUDS,
        ("https://ACCT.USGOVARIZONA.BATCH.USGOVCLOUDAPI.NET/", USGOV),  # hosts are case-blind
        ("https://acct.chinaeast2.batch.chinacloudapi.cn.:443", CHINA),  # a fully qualified name, a port
        ("https://acct.privatelink.westeurope.batch.azure.com", PUBLIC),  # a private endpoint's name
    ],
)
def test_each_cloud_batch_host_gets_its_own_token_scope(url: str, scope: str) -> None:
    assert batch_token_scopes_for(url) == [scope]


@pytest.mark.parametrize(
    "url",
    [
        "https://acct.westeurope.batch.example.com",
        "https://evilbatch.azure.com",  # the suffix must be whole labels
        "https://acct.batch.azure.com.example.net",
        "https://acct.germanycentral.batch.cloudapi.de",  # Azure Germany is closed
        "http://127.0.0.1:9",
        "http://[::1",
        "",
    ],
)
def test_a_host_in_no_known_cloud_gets_no_scope(url: str) -> None:
    assert batch_token_scopes_for(url) == []


def test_an_https_batch_url_in_no_known_cloud_is_refused_at_start_when_the_managed_identity_signs() -> None:
    url = "https://acct.westeurope.batch.example.com"
    with pytest.raises(ConfigError, match="invalid or missing settings") as info:
        Settings.from_env({**BASE, "SITELENS_BATCH_URL": url})
    said = str(info.value)
    assert "SITELENS_BATCH_URL must be a Batch account endpoint of a known Azure cloud" in said
    assert "NAME.REGION.batch.usgovcloudapi.net" in said and url in said
    assert info.value.reason == "configuration_error"


@pytest.mark.parametrize(
    "env",
    [
        {"SITELENS_BATCH_URL": "https://acct.westeurope.batch.example.com", "SITELENS_BATCH_ACCOUNT": "acct",
         "SITELENS_BATCH_KEY": "a2V5"},  # Shared Key: no token, nothing to choose
        {"SITELENS_BATCH_URL": "http://127.0.0.1:9"},  # azure-core sends no token over plain http
        *({"SITELENS_BATCH_URL": url} for url, _ in CLOUDS),
    ],
)  # fmt: skip
def test_a_batch_url_with_a_key_over_http_or_in_a_known_cloud_is_read(env: dict[str, str]) -> None:
    assert Settings.from_env({**BASE, **env}).pipeline.batch_url == env["SITELENS_BATCH_URL"]


class RecordingCredential:
    """A token credential that records the scopes each token is asked for."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        self.asked.append(scopes)
        return AccessToken("token", 2**31)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        self.asked.append(scopes)
        return AccessTokenInfo("token", 2**31)


class Unsent(Exception):
    """What RecordingTransport raises in place of sending: the request, as it would have gone."""


class RecordingTransport(HttpTransport):  # type: ignore[type-arg]
    """Records the request instead of sending it: nothing leaves the process."""

    def __enter__(self) -> RecordingTransport:
        return self

    def __exit__(self, *_args: object) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, request: Any, **_kwargs: Any) -> Any:
        raise Unsent(request)


@pytest.mark.parametrize(("url", "scope"), CLOUDS)
def test_the_apps_batch_client_asks_the_managed_identity_for_the_accounts_cloud_scope(
    url: str, scope: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = RecordingCredential()
    monkeypatch.setattr(composition, "_credential", lambda _client_id: credential)
    monkeypatch.setattr(composition, "batch_options", lambda b: batch_options(b) | {"transport": RecordingTransport()})
    client = composition.batch_client(Settings.from_env({**BASE, "SITELENS_BATCH_URL": url}))
    with pytest.raises(Unsent) as sent:
        client.get_pool("sitelens-gpu")
    [request] = sent.value.args
    assert request.url.startswith(f"{url}/pools/sitelens-gpu")
    assert request.headers["Authorization"] == "Bearer token"
    assert credential.asked == [(scope,)]
