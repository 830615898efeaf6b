"""The dashboard page in headless Chromium against a loopback API that is slow or busy: the page starts a
round of reads only after the last one ended, waits as long as a Retry-After asks, never calls /pool
itself (the dashboard's sampler does, at its pace), and keeps a failed replay's error on its row.

The page's clock is Playwright's: timers fire only when the test moves time on, so "no second request"
is a fact about the timers due, not a guess about how long to wait.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sitelens.dashboard import Dashboard, Upstream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
SUB = "sub_" + "0" * 32
EVENT = "evt_1"
SUMMARY = {"site": "yard", "window": {"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T09:00:00Z", "seconds": 3600},
           "jobs": 0, "truncated": False, "counts": {}, "time_to_result_ms": {"count": 0, "p50": None, "p95": None},
           "rejections": {}, "failures": {}, "latest": []}  # fmt: skip
FAILED = {"items": [{"event_id": EVENT, "failure_reason": "receiver_error", "attempts": [{"status": 500}]}]}
# Every fetch the page makes, recorded as it is made (before any answer): the page's own record of its calls.
COUNT_FETCHES = """
window.fetched = [];
const realFetch = window.fetch;
window.fetch = (input, init) => { window.fetched.push(String(input)); return realFetch(input, init); };
"""

Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], Any]]


def answer(status: int, doc: Any, **headers: str) -> Handler:
    return lambda _request: (status, headers, doc)


class Api:
    """A loopback API: `routes` maps a path to what answers it; every request is recorded."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes, self.seen = routes, list[str]()
        api = self

        class Handler_(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                api.seen.append(f"{self.command} {self.path}")
                route = api.routes.get(self.path.removeprefix("/api"))
                status, headers, doc = route(self) if route else (404, {}, {"reason": "route_not_found"})
                body = json.dumps(doc).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler_)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/api"

    def count(self, prefix: str) -> int:
        return sum(seen.startswith(prefix) for seen in self.seen)


def routes(**changed: Handler) -> dict[str, Handler]:
    return {
        "/sites/yard/summary": answer(200, SUMMARY),
        "/pool": answer(503, {"status": 503, "reason": "transient"}, **{"Retry-After": "30"}),
        "/subscriptions": answer(200, {"items": [{"id": SUB, "url": "https://r.example/h", "site": None,
                                                  "event_types": ["job.succeeded"], "disabled_reason": None}]}),
        f"/subscriptions/{SUB}/deliveries": answer(200, {"deliveries": []}),
        f"/subscriptions/{SUB}/failed": answer(200, FAILED),
        f"/subscriptions/{SUB}/deliveries/{EVENT}/replay": answer(502, {"reason": "api_unreachable", "detail": "x"}),
        **changed,
    }  # fmt: skip


@pytest.fixture
def served() -> Iterator[Callable[[dict[str, Handler]], tuple[Api, Dashboard]]]:
    started: list[tuple[Api, Dashboard]] = []

    def serve(table: dict[str, Handler]) -> tuple[Api, Dashboard]:
        api = Api(table)
        dashboard = Dashboard(Upstream(api.base, "k"), sites=["yard"], port=0, sample_every_s=3600).start()
        started.append((api, dashboard))
        return api, dashboard

    yield serve
    for api, dashboard in started:
        dashboard.stop()
        api.server.shutdown()
        api.server.server_close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    opened = browser.new_page()
    opened.add_init_script(COUNT_FETCHES)
    opened.clock.install()
    opened.clock.pause_at(1_800_000_000_000)  # from here on, the page's timers fire only when the test says
    yield opened
    opened.close()


def fetched(page: Any, part: str) -> int:
    return int(page.evaluate("(part) => window.fetched.filter((url) => url.includes(part)).length", part))


def rounds(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.refreshed || 0)"))


def test_a_round_of_reads_starts_only_after_the_last_one_ended(page: Any, served: Any) -> None:
    release = threading.Event()
    calls = iter(range(1_000))

    def slow_summary(_request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], Any]:
        if next(calls) == 1:
            release.wait(30)  # the second read: the API takes its time until the test lets it answer
        return 200, {}, SUMMARY

    api, dashboard = served(routes(**{"/sites/yard/summary": slow_summary}))
    page.goto(dashboard.url)
    wait_for(lambda: rounds(page) == 1, 10, "the first round to end")
    page.clock.run_for(5_000)
    wait_for(lambda: api.count("GET /api/sites/yard/summary") == 2, 10, "the second round's summary read")
    page.clock.run_for(20_000)  # four refresh periods while that read is still out
    assert fetched(page, "/summary") == 2
    release.set()
    wait_for(lambda: rounds(page) == 2, 10, "the second round to end")
    page.clock.run_for(4_000)
    assert fetched(page, "/summary") == 2  # the period counts from the end of the round
    page.clock.run_for(1_500)
    assert fetched(page, "/summary") == 3


def test_the_page_waits_as_long_as_the_api_asks_and_leaves_the_pool_to_the_sampler(page: Any, served: Any) -> None:
    busy = answer(503, {"status": 503, "reason": "transient", "detail": "throttled"}, **{"Retry-After": "30"})
    api, dashboard = served(routes(**{"/sites/yard/summary": busy}))
    page.goto(dashboard.url)
    wait_for(lambda: rounds(page) == 1, 10, "the first round to end")
    page.clock.run_for(10_000)
    assert fetched(page, "/summary") == 1  # 10 s on: still within the 30 s asked for
    assert "asked to wait" in page.locator("#updated").inner_text()
    page.clock.run_for(21_000)
    assert fetched(page, "/summary") == 2
    wait_for(lambda: rounds(page) == 2, 10, "the second round to end")
    assert fetched(page, "/api/pool") == 0 and fetched(page, "/local/pool-history") == 2
    assert api.count("GET /api/pool") == 1  # the sampler's one read, its first: it samples hourly here


def test_a_failed_replay_keeps_its_error_on_the_row_across_refreshes(page: Any, served: Any) -> None:
    api, dashboard = served(routes())
    page.goto(dashboard.url)
    button = page.locator(f'.subscription[data-subscription="{SUB}"] table.failed tr[data-event="{EVENT}"] button')
    button.wait_for(timeout=10_000)
    button.click()
    wait_for(lambda: "replay failed" in button.inner_text(), 10, "the replay's error on its button")
    done = rounds(page)
    page.clock.run_for(5_500)  # the next round rebuilds the table
    wait_for(lambda: rounds(page) > done, 10, "the next round to end")
    assert "replay failed: api_unreachable" in button.inner_text()
    assert api.count(f"POST /api/subscriptions/{SUB}/deliveries/{EVENT}/replay") == 1
