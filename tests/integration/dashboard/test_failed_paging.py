"""The page's "Failed, to replay" table against a loopback API that pages its failed deliveries as the real one
does (`limit` 1-100, `continuation` until null, a page that may be empty while the listing goes on): every
failed delivery up to the table's 300, a plain note when more are not shown, and on later rounds only the
first page read again while it stays the same.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.dashboard.loopback_api import SUB, Handler, fetched, rounds, routes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
SHOWN = 300  # the most failed deliveries the page's table shows
EMPTY_AT = 100  # where the stand-in answers an empty page whose continuation goes on, as the API may


def event(number: int) -> str:
    return f"evt_{number:04d}"


def paged_failed(total: int) -> Handler:
    """`total` failed deliveries, newest first, a page per request as `limit` and `continuation` ask."""
    items = [{"event_id": event(n), "failure_reason": "receiver_error", "attempts": [{"number": 1, "status": 500}]}
             for n in range(total)]  # fmt: skip

    def page(request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], Any]:
        query = parse_qs(urlsplit(request.path).query)
        limit = int(query.get("limit", ["50"])[0])
        if not 1 <= limit <= 100:
            return 400, {}, {"reason": "bad_query", "detail": "'limit' must be a whole number from 1 to 100"}
        token = query.get("continuation", ["at0"])[0]
        if token == f"at{EMPTY_AT}":
            return 200, {}, {"items": [], "continuation": f"after-empty{EMPTY_AT}"}
        start = int(token.removeprefix("after-empty").removeprefix("at"))
        end = min(start + limit, total)
        return 200, {}, {"items": items[start:end], "continuation": f"at{end}" if end < total else None}

    return page


def failed_rows(page: Any) -> Any:
    return page.locator(f'.subscription[data-subscription="{SUB}"] table.failed tr')


def shown_events(page: Any, expected: int) -> list[str]:
    rows = failed_rows(page)
    wait_for(lambda: rows.count() == expected, 10, f"{expected} failed deliveries in the table")
    return [str(rows.nth(i).get_attribute("data-event")) for i in range(expected)]


@pytest.mark.parametrize("total", [120, SHOWN])
def test_every_failed_delivery_is_shown_across_pages_with_no_note(page: Any, served: Any, total: int) -> None:
    _api, dashboard = served(routes(**{f"/subscriptions/{SUB}/failed": paged_failed(total)}))
    page.goto(dashboard.url)
    wait_for(lambda: rounds(page) == 1, 10, "the first round to end")
    assert shown_events(page, total) == [event(n) for n in range(total)]
    assert failed_rows(page).locator("button.replay").count() == total
    assert page.locator(".subscription .failed-more").count() == 0  # all of them are there: nothing to say
    assert "webhooks:" not in page.locator("#updated").inner_text()  # no page was refused (a bad limit would be)


def test_a_longer_list_stops_at_the_cap_and_says_how_to_list_the_rest(page: Any, served: Any) -> None:
    _api, dashboard = served(routes(**{f"/subscriptions/{SUB}/failed": paged_failed(450)}))
    page.goto(dashboard.url)
    wait_for(lambda: rounds(page) == 1, 10, "the first round to end")
    assert shown_events(page, SHOWN) == [event(n) for n in range(SHOWN)]
    note = page.locator(f'.subscription[data-subscription="{SUB}"] .failed-more').inner_text()
    assert f"Showing the newest {SHOWN} failed deliveries; more are not shown here" in note
    assert f"GET /api/subscriptions/{SUB}/failed" in note and "continuation" in note
    # Bounded: 100, the empty page, 100, 100 and the one that says more follow; never the other 149.
    assert fetched(page, "/failed") == 5


def test_later_rounds_read_only_the_first_page_while_it_stays_the_same(page: Any, served: Any) -> None:
    _api, dashboard = served(routes(**{f"/subscriptions/{SUB}/failed": paged_failed(450)}))
    page.goto(dashboard.url)
    wait_for(lambda: rounds(page) == 1, 10, "the first round to end")
    full = fetched(page, "/failed")

    def next_round_reads() -> int:
        """The /failed reads of the page's next round, its timer fired by moving the page's clock on."""
        before, done = fetched(page, "/failed"), rounds(page)
        page.clock.run_for(5_500)
        wait_for(lambda: rounds(page) > done, 10, "the next round to end")
        return fetched(page, "/failed") - before

    assert next_round_reads() == 1
    assert shown_events(page, SHOWN)[-1] == event(SHOWN - 1)  # the later pages, as read before
    assert page.locator(".subscription .failed-more").count() == 1
    button = failed_rows(page).first.locator("button.replay")
    button.click()  # the stand-in has no such replay: it fails, and the list may have changed all the same
    wait_for(lambda: "replay failed" in button.inner_text(), 10, "the replay's outcome")
    assert next_round_reads() == full
    assert next_round_reads() == 1
    now_s = page.evaluate("Date.now()") / 1000  # Playwright's Python clock takes seconds
    page.clock.set_system_time(now_s + 61)  # a minute on, no timer fired
    assert next_round_reads() == full  # the later pages are trusted for a minute at most
