"""Debian's headless Chromium, driven by the pinned Playwright package (which downloads no browser of its own),
for the dashboard's browser tests. A conftest imports the fixtures where a test takes `browser`.

Without Chromium the tests are skipped with a reason saying so; with SITELENS_REQUIRE_BROWSER=1 (what .ci/run
sets) the skip becomes a failure, so CI cannot pass without the browser having run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def chromium() -> str | None:
    found = os.environ.get("SITELENS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="session")  # session: set up before any stack, so a skip costs no stack start
def chromium_executable() -> str:
    executable = chromium()
    if executable is None:
        message = "Chromium not found (apt-get install chromium, or set SITELENS_CHROMIUM): browser tests NOT run"
        if os.environ.get("SITELENS_REQUIRE_BROWSER") == "1":
            pytest.fail(message + ", and SITELENS_REQUIRE_BROWSER=1 requires them")
        pytest.skip(message)
    return executable


# Module, not session: Playwright's sync API holds an event loop as the main thread's running loop while it
# is open, and every later test that calls asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # imported here: only a run with Chromium needs it

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=chromium_executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()
