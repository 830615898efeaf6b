"""The dashboard's server: the key added to forwarded calls only, the allow-list, the loopback guards, the
pool sampler. A small loopback server stands in for the API and records what reached it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.azurite import free_port
from sitelens.dashboard import Dashboard, Upstream, allowed
from sitelens.dashboard_sampler import PoolSampler, sample_of
from tests.support.scripted_http import ScriptedServer
from tests.support.waiting import wait_for

KEY = "operator-key"
SUB = "sub_" + "0" * 32


POOL = {"pool": "p", "target_nodes": 2, "current_nodes": 1, "pending_tasks": 5}


class FakeApi(ScriptedServer):
    """Answers every call with POOL, unless `script[path]` holds answers for it (see ScriptedServer)."""

    def __init__(self) -> None:
        super().__init__((200, {}, json.dumps(POOL).encode(), None))
        self.base = f"{self.origin}/api"


def forwarded(api: FakeApi) -> list[tuple[str, str, str | None]]:
    """What reached the API besides the sampler's own reads of /pool."""
    return [seen for seen in api.seen if seen[1] != "/api/pool"]


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()


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
    for path in ("/", "/static/app.js", "/static/webhooks.js", "/static/style.css", "/local/config"):
        status, headers, body = call(dashboard, "GET", path)
        assert status == 200 and KEY.encode() not in body
        assert "default-src 'self'" in headers["Content-Security-Policy"]


def test_an_allowed_call_is_forwarded_with_the_key(dashboard: Dashboard, api: FakeApi) -> None:
    status, _, body = call(dashboard, "GET", "/api/sites/yard/summary")
    assert status == 200 and json.loads(body)["pending_tasks"] == 5
    assert forwarded(api) == [("GET", "/api/sites/yard/summary", KEY)]


def test_the_failed_listings_paging_is_forwarded_and_no_other_query(dashboard: Dashboard, api: FakeApi) -> None:
    failed = f"/api/subscriptions/{SUB}/failed"
    call(dashboard, "GET", f"{failed}?limit=100&continuation=a%26limit%3D7&site=x&limit=5")
    call(dashboard, "GET", "/api/sites/yard/summary?limit=3")
    assert forwarded(api) == [("GET", f"{failed}?limit=100&continuation=a%26limit%3D7", KEY),
                              ("GET", "/api/sites/yard/summary", KEY)]  # fmt: skip


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
    status, _, body, _ = Upstream(f"http://127.0.0.1:{free_port()}/api", KEY).forward("GET", "/pool")
    assert status == 502 and json.loads(body)["reason"] == "api_unreachable"


def test_an_answer_cut_short_is_a_502_problem(api: FakeApi) -> None:
    api.script["/api/pool"] = [(200, {}, b'{"pool": "p"', 500)]
    status, _, body, _ = Upstream(api.base, KEY).forward("GET", "/pool")
    assert status == 502 and json.loads(body)["reason"] == "api_unreachable"


def test_an_answer_cut_short_is_a_gap_in_the_chart_and_the_sampling_goes_on(api: FakeApi) -> None:
    good: tuple[int, dict[str, str], bytes, int | None] = (200, {}, json.dumps(POOL).encode(), None)
    api.script["/api/pool"] = [good, (200, {}, b'{"pool": "p"', 500), good]
    running = Dashboard(Upstream(api.base, KEY), sites=[], port=0, sample_every_s=0.05).start()
    try:
        samples = wait_for(lambda: running.sampler.samples()[:3] if len(running.sampler.samples()) >= 3 else None,
                           10, "three samples of the pool")  # fmt: skip
    finally:
        running.stop()
    assert [s.get("error") for s in samples] == [None, "api_unreachable", None]


def test_the_page_is_told_how_long_a_busy_api_asked_to_wait(dashboard: Dashboard, api: FakeApi) -> None:
    busy = json.dumps({"status": 503, "reason": "transient"}).encode()
    api.script["/api/sites/yard/summary"] = [(503, {"Retry-After": "30"}, busy, None)]
    status, headers, _ = call(dashboard, "GET", "/api/sites/yard/summary")
    assert status == 503 and headers["Retry-After"] == "30"


def test_the_pools_figures_now_come_with_its_history(dashboard: Dashboard) -> None:
    wait_for(dashboard.sampler.samples, 10, "the first sample")
    status, _, body = call(dashboard, "GET", "/local/pool-history")
    assert status == 200 and json.loads(body)["now"] == POOL


def test_the_allow_list() -> None:
    assert allowed("GET", "/jobs/j_" + "a" * 26) and not allowed("GET", "/jobs/j_" + "a" * 25)
    assert allowed("GET", "/pool") and not allowed("POST", "/pool")


def test_the_sampler_keeps_points_and_gaps_and_forgets_the_oldest() -> None:
    at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    answers = iter([(200, {"target_nodes": 1, "current_nodes": 0, "pending_tasks": 3}, None),
                    (503, {"reason": "transient"}, None),
                    (200, {"target_nodes": 1, "current_nodes": 1, "pending_tasks": 0}, None)])  # fmt: skip
    sampler = PoolSampler(lambda: next(answers), keep=2, clock=lambda: at)
    for _ in range(3):
        sampler.sample()
    assert sampler.samples() == [
        {"at": "2026-11-22T08:00:00Z", "error": "transient"},
        {"at": "2026-11-22T08:00:00Z", "target_nodes": 1, "current_nodes": 1, "pending_tasks": 0, "failed_nodes": 0,
         "failed_tasks": 0},
    ]  # fmt: skip
    assert sample_of(502, None, at)["error"] == "HTTP 502"


def test_a_read_that_raises_is_a_gap_and_the_next_read_goes_on() -> None:
    at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    answers: list[tuple[int, Any, str | None] | Exception] = [RuntimeError("a bug in a read"), (200, POOL, None)]

    def read() -> tuple[int, Any, str | None]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    sampler = PoolSampler(read, clock=lambda: at)
    assert sampler.sample()["error"] == "read_failed: RuntimeError"
    assert "error" not in sampler.sample() and sampler.latest() == POOL


def test_the_sampler_reads_no_sooner_than_a_busy_api_asked() -> None:
    now = [datetime(2026, 11, 22, 8, 0, tzinfo=UTC)]
    reads: list[datetime] = []
    answers: list[tuple[int, Any, str | None]] = [(503, {"reason": "transient"}, "30"), (200, POOL, None)]

    def read() -> tuple[int, Any, str | None]:
        reads.append(now[0])
        return answers.pop(0) if len(answers) > 1 else answers[0]

    sampler = PoolSampler(read, clock=lambda: now[0])
    points = []
    for _ in range(8):  # every 5 s: the 503 at 0 s asked for 30 s
        points.append(sampler.sample())
        now[0] += timedelta(seconds=5)
    assert [(r - reads[0]).total_seconds() for r in reads] == [0, 30, 35]
    assert [p.get("error") for p in points] == ["transient"] * 6 + [None, None]  # the wait drawn as a gap
