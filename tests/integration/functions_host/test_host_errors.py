"""Every answer the local host gives itself is an RFC 9457 problem document, at the Functions host's status."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from emulators.functions_host.http_server import MAX_REQUEST_LINE
from tests.support.stack import HostProcess

pytestmark = pytest.mark.integration
KEYS = {"master": "test-master-key", "host": {"default": "host-key"}}


@pytest.fixture
def host(make_host) -> HostProcess:
    started: HostProcess = make_host("http", keys=KEYS).start()
    return started


def raw_call(host: HostProcess, head: bytes, body_bytes: int = 0) -> tuple[int, dict[str, str], bytes]:
    """One request over a plain socket (so nothing client-side limits the line or headers); the answer."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=30) as conn:
        conn.sendall(head)
        chunk, sent = b"\0" * (1024 * 1024), 0
        try:
            while sent < body_bytes:  # the host may answer and stop reading before the body is all sent
                conn.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""  # every request says Connection: close, so the host ends the reply by closing
        while part := conn.recv(65536):
            reply += part
    head_part, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head_part.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", len(body)))
    return int(status_line.split()[1]), headers, body[:length]


def get(path: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *extra, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def assert_problem(answer: tuple[int, dict[str, str], bytes], status: int, reason: str) -> dict[str, Any]:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"].startswith("application/problem+json"), headers
    doc: dict[str, Any] = json.loads(body)
    assert (doc["status"], doc["reason"], doc["title"]) == (status, reason, doc["title"]) and doc["detail"]
    assert doc["type"].endswith(f"#{reason}")
    return doc


def test_a_request_line_over_8192_bytes_is_414_and_one_under_is_routed(host):
    overhead = len("GET  HTTP/1.1\r\n")
    longest = "/api/" + "a" * (MAX_REQUEST_LINE - overhead - len("/api/"))
    assert_problem(raw_call(host, get(longest + "a")), 414, "uri_too_long")  # one byte over
    assert_problem(raw_call(host, get("/api/jobs/j1?code=" + "k" * 100_000)), 414, "uri_too_long")
    assert_problem(raw_call(host, get(longest, "x-functions-key: host-key")), 404, "route_not_found")  # at it


def test_too_many_or_too_large_headers_are_431(host):
    many = [f"x-h{n}: v" for n in range(101)]
    assert_problem(raw_call(host, get("/api/public/ping", *many)), 431, "headers_too_large")
    assert_problem(raw_call(host, get("/api/public/ping", "x-big: " + "v" * 40_000)), 431, "headers_too_large")
    assert raw_call(host, get("/api/public/ping", *many[:90]))[0] == 200


def test_keys_routes_methods_and_failures_are_problem_documents(host):
    assert_problem(raw_call(host, get("/api/jobs/j1")), 401, "unauthorized")
    assert_problem(raw_call(host, get("/api/jobs/j1", "x-functions-key: wrong")), 401, "unauthorized")
    assert_problem(raw_call(host, get("/api/nope")), 404, "route_not_found")
    assert_problem(raw_call(host, get("/elsewhere")), 404, "route_not_found")  # outside the route prefix
    post_ping = b"POST /admin/host/ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert_problem(raw_call(host, post_ping), 404, "route_not_found")  # a method no route lists: 404, not 405
    assert_problem(raw_call(host, get("/api/boom")), 500, "internal_error")
    webhook = b"POST /runtime/webhooks/blobs HTTP/1.1\r\nHost: x\r\nx-functions-key: test-master-key\r\n"
    for body in (b"[" * 4096, b"[]", b"[1]", b'[{"data": 3}]', b"\xff"):
        head = webhook + b"aeg-event-type: Notification\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        assert_problem(raw_call(host, head + body), 400, "bad_request")
    body = b'[{"data": {"url": "http://127.0.0.1/a/b", "blobType": "BlockBlob"}}]'  # for a function this app lacks
    head = webhook + b"aeg-event-type: Notification\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    assert_problem(raw_call(host, head + body), 404, "route_not_found")
    assert raw_call(host, get("/api/public/ping"))[0] == 200  # and it keeps serving


def test_a_body_over_100_mib_is_413(host):
    size = 100 * 1024 * 1024 + 1024 * 1024
    head = (b"POST /api/jobs/j1/retry HTTP/1.1\r\nHost: x\r\nx-functions-key: host-key\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % size)  # fmt: skip
    assert_problem(raw_call(host, head, body_bytes=size), 413, "request_too_large")
