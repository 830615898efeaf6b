"""HTTP trigger semantics: routes and params, auth levels and keys, errors, the OpenAPI document."""

from __future__ import annotations

import gzip
import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.stack import HostProcess

pytestmark = pytest.mark.integration

KEYS = {"master": "test-master-key", "host": {"default": "host-key"}, "functions": {"get_job": {"default": "fn-key"}}}


@pytest.fixture
def host(make_host) -> HostProcess:
    started: HostProcess = make_host("http", keys=KEYS).start()
    return started


def call(
    host: HostProcess,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    key: str | None = None,
    header: bool = True,
) -> tuple[int, bytes, dict[str, str]]:
    url = f"{host.url}{path}"
    headers = {"Content-Type": "application/json"}
    if key and header:
        headers["x-functions-key"] = key
    elif key:
        url += ("&" if "?" in url else "?") + f"code={key}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_function_level_route_needs_a_key(host):
    assert call(host, "/api/jobs/j1")[0] == 401
    assert call(host, "/api/jobs/j1", key="wrong")[0] == 401


@pytest.mark.parametrize("key", ["fn-key", "host-key", "test-master-key"])
def test_function_host_and_master_keys_are_accepted(host, key):
    status, body, headers = call(host, "/api/jobs/j-42?verbose=1", key=key)
    assert status == 200
    assert json.loads(body) == {"job_id": "j-42", "verbose": "1"}
    assert headers["Content-Type"].startswith("application/json")


def test_key_in_code_query_parameter(host):
    assert call(host, "/api/jobs/j1", key="fn-key", header=False)[0] == 200


def test_function_key_of_another_function_is_refused(host):
    assert call(host, "/api/jobs/j1/retry", method="POST", body=b"{}", key="fn-key")[0] == 401


def test_route_params_and_json_body(host):
    status, body, _ = call(host, "/api/jobs/abc/retry", method="POST", body=b'{"why": "blurry"}', key="host-key")
    assert status == 202
    assert json.loads(body) == {"retried": "abc", "body": {"why": "blurry"}}


def test_method_not_in_the_route_is_not_found(host):
    assert call(host, "/api/jobs/j1", method="DELETE", key="host-key")[0] == 404


def test_anonymous_admin_and_unknown_routes(host):
    assert call(host, "/api/public/ping")[:2] == (200, b"pong")
    assert call(host, "/api/admin-only", key="host-key")[0] == 401
    assert call(host, "/api/admin-only", key="test-master-key")[:2] == (200, b"admin")
    assert call(host, "/api/nope")[0] == 404
    assert call(host, "/jobs/j1", key="host-key")[0] == 404  # outside the route prefix


def test_unhandled_exception_is_a_500_and_the_host_keeps_serving(host):
    assert call(host, "/api/boom")[0] == 500
    assert call(host, "/api/public/ping")[0] == 200
    assert "Executed 'Functions.boom' (Failed" in host.log_text()


def test_openapi_document_is_served(host):
    status, body, _ = call(host, "/api/openapi.json")
    assert status == 200
    assert json.loads(body)["info"]["title"] == "test app"


def test_keys_not_enforced_when_asked_like_core_tools(make_host):
    open_host = make_host("http", keys=KEYS, extra_args=["--no-enforce-keys"]).start()
    assert call(open_host, "/api/jobs/j1")[0] == 200


def test_route_values_are_decoded_exactly_once(host):
    status, body, _ = call(host, "/api/jobs/a%2525b?verbose=1", key="host-key")
    assert status == 200
    assert json.loads(body)["job_id"] == "a%25b"
    status, body, _ = call(host, "/api/jobs/site%2Fjob", key="host-key")
    # an encoded '/' neither splits segments nor is decoded (Kestrel leaves %2F as it is)
    assert status == 200 and json.loads(body)["job_id"] == "site%2Fjob"


def test_query_and_headers_reach_the_function_as_the_host_hands_them_over(host):
    # repeated values joined with "," (empty ones skipped), a parameter without a value dropped, names
    # matched without regard to case, header names lower-case
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    connection.putrequest("GET", "/api/echo?site=a&Site=b&limit=&flag&dup=&dup=x&one=1")
    for name, value in [("X-Echo-Multi", "1"), ("x-echo-multi", "2"), ("X-Echo-Empty", "")]:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.read()) == {
        "params": {"site": "a,b", "dup": "x", "one": "1"},
        "headers": {"x-echo-multi": "1,2", "x-echo-empty": ""},
    }
    connection.close()


def post_echo(host: HostProcess, body: bytes | Iterator[bytes], headers: dict[str, str]) -> dict[str, str | None]:
    """What the echo-body function got: the body (hex) and the framing headers it was handed."""
    connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=10)
    try:
        connection.request("POST", "/api/echo-body", body=body, headers=headers)
        response = connection.getresponse()
        assert response.status == 200
        got: dict[str, str | None] = json.loads(response.read())
        return got
    finally:
        connection.close()


def test_a_chunked_body_reaches_the_function_empty_as_in_azure(host):
    # The Functions host fills the worker's body only when Content-Length is above 0 (ToRpcHttp), so a
    # Python function gets no body from a chunked request; the header still tells it how the body came.
    got = post_echo(host, iter([b'{"site": ', b'"s1"}']), {})  # http.client sends an iterator chunked
    assert got == {"body": "", "content-length": None, "transfer-encoding": "chunked", "content-encoding": None}
    sized = post_echo(host, b'{"site": "s1"}', {"Content-Type": "application/json"})
    assert sized["body"] == b'{"site": "s1"}'.hex() and sized["content-length"] == "14"


def test_a_compressed_body_reaches_the_function_as_sent(host):
    compressed = gzip.compress(b'{"site": "s1"}')
    got = post_echo(host, compressed, {"Content-Encoding": "gzip"})
    assert got["body"] == compressed.hex() and got["content-encoding"] == "gzip"


def test_route_prefix_and_literals_match_without_regard_to_case(host):
    status, body, _ = call(host, "/API/Jobs/j-7", key="host-key")
    assert status == 200 and json.loads(body)["job_id"] == "j-7"
    assert call(host, "/Api/openapi.json")[0] == 200


@pytest.mark.parametrize("path", ["/api//jobs/j1", "//api/jobs/j1", "/api/jobs//j1", "/api/jobs/j1//"])
def test_an_empty_path_segment_matches_no_route(host, path):
    # ASP.NET routing never collapses slashes: an empty segment matches no template segment
    assert call(host, path, key="host-key")[0] == 404
    assert call(host, "/api/jobs/j1/", key="host-key")[0] == 200  # one trailing slash is ignored
