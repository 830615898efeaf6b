"""The chaos run's TCP fault proxy (emulators/fault_proxy.py), against a real loopback HTTP server."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emulators.fault_proxy import FaultProxy, Faults


class Origin:
    """A loopback HTTP server that counts the requests that reach it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: several requests on one connection

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                origin.paths.append(f"{self.command} {self.path}")
                self.send_response(201 if self.command == "PUT" else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_PUT = _answer

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture
def origin() -> Iterator[Origin]:
    o = Origin()
    yield o
    o.server.shutdown()
    o.server.server_close()


def _proxy(origin: Origin, faults: Faults, seed: int = 3) -> FaultProxy:
    proxy = FaultProxy(origin.port, faults, seed=seed).start()
    proxy.enabled.set()
    return proxy


def _get(port: int, path: str, method: str = "GET") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=b"x" if method == "PUT" else None)
        return conn.getresponse().status
    finally:
        conn.close()


def test_without_faults_requests_pass_on_one_keep_alive_connection(origin: Origin) -> None:
    proxy = _proxy(origin, Faults())
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    for i in range(5):
        conn.request("GET", f"/{i}")
        response = conn.getresponse()
        assert (response.status, response.read()) == (200, b"ok")
    conn.close()
    assert origin.paths == [f"GET /{i}" for i in range(5)]
    assert proxy.requests == 5 and not proxy.counts
    proxy.stop()


def test_a_reset_never_reaches_the_server_and_the_client_sees_the_connection_fail(origin: Origin) -> None:
    proxy = _proxy(origin, Faults(reset=1.0))
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        _get(proxy.port, "/a")
    assert origin.paths == []
    assert proxy.counts["reset"] == 1
    proxy.stop()


def test_a_drop_reaches_the_server_but_the_reply_is_lost(origin: Origin) -> None:
    proxy = _proxy(origin, Faults(drop=1.0))
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        _get(proxy.port, "/done-but-unheard")
    assert origin.paths == ["GET /done-but-unheard"]
    assert proxy.counts["drop"] == 1
    proxy.stop()


def test_refused_writes_hit_one_chosen_key_for_its_first_attempt_only(origin: Origin) -> None:
    faults = Faults(refuse_share=1.0, refuse_paths=(b"/results/",), refuse_times=2)
    proxy = _proxy(origin, faults)
    statuses = [_get(proxy.port, "/acct/results/job-1/result.json", "PUT") for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert _get(proxy.port, "/acct/results/job-1/result.json") == 200  # reads are never refused
    assert _get(proxy.port, "/acct/derived/job-1/input.jpg", "PUT") == 201  # nor writes elsewhere
    assert proxy.counts["refuse"] == 2
    proxy.stop()


def test_the_first_keys_are_refused_whatever_the_draw(origin: Origin) -> None:
    """A short chaos run must see the fault: at a 2 % share, 200 jobs draw none about once in fifty runs."""
    faults = Faults(refuse_share=0.0, refuse_first=1, refuse_paths=(b"/results/",), refuse_times=1)
    proxy = _proxy(origin, faults)
    first = [_get(proxy.port, "/acct/results/job-1/result.json", "PUT") for _ in range(2)]
    later = [_get(proxy.port, f"/acct/results/job-{n}/result.json", "PUT") for n in range(2, 6)]
    assert (first, later) == ([503, 201], [201] * 4)
    assert proxy.counts["refuse"] == 1
    proxy.stop()


def test_the_same_seed_draws_the_same_faults_and_disabled_draws_none(origin: Origin) -> None:
    def kinds(seed: int) -> list[str | None]:
        proxy = FaultProxy(origin.port, Faults(reset=0.2, drop=0.2, delay=0.2), seed=seed)
        proxy.enabled.set()
        drawn = [proxy._decide(b"GET / HTTP/1.1\r\n") for _ in range(50)]
        proxy.stop()
        return drawn

    assert kinds(5) == kinds(5)
    assert kinds(5) != kinds(6)
    quiet = FaultProxy(origin.port, Faults(reset=1.0), seed=1)
    assert quiet._decide(b"GET / HTTP/1.1\r\n") is None and not quiet.counts
    quiet.stop()


def test_shares_outside_zero_to_one_are_refused() -> None:
    with pytest.raises(ValueError, match="share"):
        Faults(reset=1.5)
    with pytest.raises(ValueError, match="exceed"):
        Faults(reset=0.6, drop=0.6)
