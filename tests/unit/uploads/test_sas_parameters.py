"""The SAS the signer mints: exactly `cw` on one blob, ≤ 15 minutes, HTTPS-only outside the emulator."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.storage.blob import BlobServiceClient, UserDelegationKey

from shared.uploads.azure_blob_sas import BlobUploadSigner, is_loopback
from shared.uploads.service import MAX_TTL
from tests.unit.uploads.fakes import T0, Clock

KEY = base64.b64encode(b"k" * 64).decode()
NAME = "site-1/cam-2/2026/11/22/IMG_0001.jpg"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class DelegatingService(BlobServiceClient):
    """A real client (URLs, account name) whose delegation keys come from here instead of Entra ID."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.requested: list[tuple[datetime, datetime]] = []

    def get_user_delegation_key(
        self, key_start_time: datetime, key_expiry_time: datetime, **_: Any
    ) -> UserDelegationKey:
        self.requested.append((key_start_time, key_expiry_time))
        key = UserDelegationKey()  # type: ignore[no-untyped-call]
        key.signed_oid, key.signed_tid = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b2"
        key.signed_start = key_start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = key_expiry_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service, key.signed_version, key.value = "b", "2025-11-05", KEY
        return key


def account_key_signer(url: str, clock: Clock) -> BlobUploadSigner:
    conn = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY};BlobEndpoint={url}"
    return BlobUploadSigner(BlobServiceClient.from_connection_string(conn), account_key=KEY, clock=clock)


@pytest.mark.parametrize("mode", ["account_key", "user_delegation"])
def test_azure_sas_is_create_write_on_one_blob_https_only_15_minutes(mode):
    clock = Clock()
    if mode == "account_key":
        signer = account_key_signer("https://acct.blob.core.windows.net", clock)
    else:
        signer = BlobUploadSigner(
            DelegatingService("https://acct.blob.core.windows.net"), account_key=None, clock=clock
        )
    signed = signer.create_only_url(NAME, MAX_TTL)
    q = query(signed.url)
    assert urlsplit(signed.url).path == f"/photos/{NAME}"
    assert q["sp"] == "cw"  # create + write; never r, a, d, l, t, x
    assert q["sr"] == "b"  # this blob, not the container
    assert q["spr"] == "https"
    assert when(q["se"]) - T0 <= timedelta(minutes=15) and signed.expires_at == when(q["se"])
    assert T0 - timedelta(minutes=6) < when(q["st"]) < T0  # a few minutes back for device clock skew
    assert ("skoid" in q) == (mode == "user_delegation")


def test_http_is_allowed_only_against_a_loopback_emulator():
    local = account_key_signer("http://127.0.0.1:10000/devstoreaccount1", Clock())
    assert query(local.create_only_url(NAME, MAX_TTL).url)["spr"] == "https,http"
    assert [is_loopback(u) for u in ("http://localhost:1/a", "http://[::1]:1/a", "http://10.0.0.1/a",
                                     "https://127.0.0.1.evil.example/a")] == [True, True, False, False]  # fmt: skip


def test_delegation_key_is_cached_and_renewed_before_it_expires():
    clock = Clock()
    service = DelegatingService("https://acct.blob.core.windows.net")
    signer = BlobUploadSigner(service, account_key=None, clock=clock)
    signer.create_only_url(NAME, MAX_TTL)
    clock.now += timedelta(minutes=30)
    signer.create_only_url(NAME, MAX_TTL)
    assert len(service.requested) == 1
    clock.now += timedelta(minutes=80)  # the key (2 h) would expire within a new SAS's lifetime plus skew
    signed = signer.create_only_url(NAME, MAX_TTL)
    assert len(service.requested) == 2
    start, expiry = service.requested[-1]
    assert start < clock.now and expiry >= signed.expires_at + timedelta(minutes=5)
