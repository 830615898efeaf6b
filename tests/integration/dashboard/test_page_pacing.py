"""The dashboard page in headless Chromium against a loopback API that is slow or busy: the page starts a
round of reads only after the last one ended, waits as long as a Retry-After asks, never calls /pool
itself (the dashboard's sampler does, at its pace), and keeps a failed replay's error on its row.

The page's clock is Playwright's: timers fire only when the test moves time on, so "no second request"
is a fact about the timers due, not a guess about how long to wait.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.integration.dashboard.loopback_api import EVENT, SUB, SUMMARY, answer, fetched, rounds, routes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


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
