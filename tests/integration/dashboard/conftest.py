"""The dashboard page's tests take the headless browser of tests/support/browser.py, a dashboard in front of a
loopback stand-in for the API (`served`), and a page whose clock the test moves (`page`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sitelens.dashboard import Dashboard, Upstream
from tests.integration.dashboard.loopback_api import COUNT_FETCHES, Api, Handler
from tests.support.browser import browser, chromium_executable  # noqa: F401 - fixtures of the browser tests


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
        api.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:  # noqa: F811 - the browser fixture imported above
    opened = browser.new_page()
    opened.add_init_script(COUNT_FETCHES)
    opened.clock.install()
    opened.clock.pause_at(1_800_000_000_000)  # from here on, the page's timers fire only when the test says
    yield opened
    opened.close()
