"""The dashboard page's tests take the headless browser of tests/support/browser.py."""

from tests.support.browser import browser, chromium_executable  # noqa: F401 - fixtures of the browser tests
