"""Shared Key: what the SDK's own signing policy produces is accepted; anything else is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from azure.batch._patch import BatchSharedKeyAuthPolicy
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest
from requests.utils import requote_uri

from emulators.batch_service import auth
from emulators.batch_service.wire import BatchError

KEY = base64.b64encode(bytes(range(64))).decode()


def signed(method: str, path: str, params: dict[str, str], body: object = None, key: str = KEY) -> HttpRequest:
    request = HttpRequest(method, f"http://127.0.0.1:8765{path}", params=params, json=body)
    BatchSharedKeyAuthPolicy(AzureNamedKeyCredential("acct", key)).on_request(
        PipelineRequest(request, PipelineContext(None))
    )
    return request


def check(request: HttpRequest, *, account: str = "acct", now: datetime | None = None) -> None:
    url = urlsplit(requote_uri(request.url))  # as the transport sends it: spaces and quotes escaped
    auth.check(request.method, request.headers, account=account, key=KEY, raw_path=url.path, raw_query=url.query,
               now=now or datetime.now(UTC))  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/pools", {"api-version": "2025-06-01"}, None),
        (
            "GET",
            "/jobs/j/tasks",
            {"api-version": "2025-06-01", "$filter": "state eq 'active'", "maxresults": "10"},
            None,
        ),
        ("POST", "/jobs/j/tasks", {"api-version": "2025-06-01", "timeOut": "30"}, {"id": "t", "commandLine": "true"}),
        ("POST", "/jobs/j/tasks/t/terminate", {"api-version": "2025-06-01"}, None),
        ("DELETE", "/jobs/Job-1", {"api-version": "2024-07-01.20.0"}, None),
        ("PATCH", "/jobs/j", {"api-version": "2025-06-01"}, {"priority": 5}),
    ],
)
def test_requests_signed_by_the_sdk_are_accepted(method, path, params, body):
    check(signed(method, path, params, body))


def test_a_wrong_key_a_tampered_request_or_another_account_is_refused():
    request = signed("GET", "/pools", {"api-version": "2025-06-01"}, key=base64.b64encode(b"other").decode())
    with pytest.raises(BatchError) as wrong_key:
        check(request)
    assert (wrong_key.value.code, wrong_key.value.status) == ("AuthenticationFailed", 403)
    tampered = signed("GET", "/pools", {"api-version": "2025-06-01"})
    tampered.url = tampered.url.replace("/pools", "/jobs")
    with pytest.raises(BatchError):
        check(tampered)
    with pytest.raises(BatchError):
        check(signed("GET", "/pools", {"api-version": "2025-06-01"}), account="someoneelse")


def test_a_request_dated_more_than_15_minutes_away_is_refused():
    request = signed("GET", "/pools", {"api-version": "2025-06-01"})
    check(request, now=datetime.now(UTC) + timedelta(minutes=14))
    with pytest.raises(BatchError) as late:
        check(request, now=datetime.now(UTC) + timedelta(minutes=16))
    assert "15 minutes" in late.value.values["AuthenticationErrorDetail"]
    del request.headers["ocp-date"]
    with pytest.raises(BatchError):
        check(request)
