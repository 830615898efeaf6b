"""The dashboard's server: the key added to forwarded calls only, the allow-list, the loopback guards, the
pool sampler. A small loopback server stands in for the API and records what reached it."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from emulators.azurite import free_port
from sitelens.dashboard import Dashboard, Upstream, allowed
from sitelens.dashboard_sampler import PoolSampler, sample_of

KEY = "operator-key"
SUB = "sub_" + "0" * 32


class FakeApi:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                api.seen.append((self.command, self.path, self.headers.get("x-functions-key")))
                body = json.dumps({"pool": "p", "target_nodes": 2, "current_nodes": 1, "pending_tasks": 5}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/api"


def forwarded(api: FakeApi) -> list[tuple[str, str, str | None]]:
    """What reached the API besides the sampler's own reads of /pool."""
    return [seen for seen in api.seen if seen[1] != "/api/pool"]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def dashboard(api: FakeApi) -> Iterator[Dashboard]:
    running = Dashboard(Upstream(api.base, KEY), sites=["yard"], port=0, sample_every_s=3600).start()
    yield running
    running.stop()


def call(d: Dashboard, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        return response.status, response.headers, raw
    finally:
        connection.close()


def test_it_listens_on_loopback_only(dashboard: Dashboard) -> None:
    assert dashboard.server.server_address[0] == "127.0.0.1"


def test_the_page_is_served_without_the_key_and_with_a_strict_policy(dashboard: Dashboard) -> None:
    for path in ("/", "/static/app.js", "/static/style.css", "/local/config"):
        status, headers, body = call(dashboard, "GET", path)
        assert status == 200 and KEY.encode() not in body
        assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_an_allowed_call_is_forwarded_with_the_key(dashboard: Dashboard, api: FakeApi) -> None:
    status, _, body = call(dashboard, "GET", "/api/sites/yard/summary")
    assert status == 200 and json.loads(body)["pending_tasks"] == 5
    assert forwarded(api) == [("GET", "/api/sites/yard/summary", KEY)]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/jobs"), ("POST", f"/api/subscriptions/{SUB}/rotate"), ("DELETE", f"/api/subscriptions/{SUB}"),
     ("GET", "/api/sites/../summary"), ("GET", "/api/health/details"), ("GET", "/etc/passwd")],
)  # fmt: skip
def test_anything_off_the_list_is_refused_and_never_reaches_the_api(
    dashboard: Dashboard, api: FakeApi, method: str, path: str
) -> None:
    status, _, _ = call(dashboard, method, path, {"X-Sitelens-Dashboard": "1"})
    assert status in (404, 501) and not forwarded(api)


def test_a_replay_needs_the_pages_header_so_another_site_cannot_post_it(dashboard: Dashboard, api: FakeApi) -> None:
    path = f"/api/subscriptions/{SUB}/deliveries/evt_1/replay"
    assert call(dashboard, "POST", path)[0] == 403 and not forwarded(api)
    assert call(dashboard, "POST", path, {"X-Sitelens-Dashboard": "1"})[0] == 200
    assert forwarded(api) == [("POST", f"/api/subscriptions/{SUB}/deliveries/evt_1/replay", KEY)]


def test_a_request_for_another_host_name_is_refused(dashboard: Dashboard, api: FakeApi) -> None:
    status, _, body = call(dashboard, "GET", "/api/sites/yard/summary", {"Host": f"attacker.example:{dashboard.port}"})
    assert status == 421 and json.loads(body)["reason"] == "wrong_host" and not forwarded(api)


def test_an_api_that_does_not_answer_is_a_502_problem() -> None:
    status, _, body = Upstream(f"http://127.0.0.1:{free_port()}/api", KEY).forward("GET", "/pool")
    assert status == 502 and json.loads(body)["reason"] == "api_unreachable"


def test_the_allow_list() -> None:
    assert allowed("GET", "/jobs/j_" + "a" * 26) and not allowed("GET", "/jobs/j_" + "a" * 25)
    assert allowed("GET", "/pool") and not allowed("POST", "/pool")


def test_the_sampler_keeps_points_and_gaps_and_forgets_the_oldest() -> None:
    at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    answers = iter([(200, {"target_nodes": 1, "current_nodes": 0, "pending_tasks": 3}), (503, {"reason": "transient"}),
                    (200, {"target_nodes": 1, "current_nodes": 1, "pending_tasks": 0})])  # fmt: skip
    sampler = PoolSampler(lambda: next(answers), keep=2, clock=lambda: at)
    for _ in range(3):
        sampler.sample()
    assert sampler.samples() == [
        {"at": "2026-11-22T08:00:00Z", "error": "transient"},
        {"at": "2026-11-22T08:00:00Z", "target_nodes": 1, "current_nodes": 1, "pending_tasks": 0, "failed_nodes": 0,
         "failed_tasks": 0},
    ]  # fmt: skip
    assert sample_of(502, None, at)["error"] == "HTTP 502"
