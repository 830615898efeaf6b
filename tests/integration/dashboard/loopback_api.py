"""A loopback stand-in for the sitelens API, for the dashboard page's browser tests: each path (its query aside)
answers as a test says, and every request is recorded. Also what the tests read off the page itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUB = "sub_" + "0" * 32
EVENT = "evt_1"
SUMMARY = {"site": "yard", "window": {"from": "2026-11-22T08:00:00Z", "to": "2026-11-22T09:00:00Z", "seconds": 3600},
           "jobs": 0, "truncated": False, "counts": {}, "time_to_result_ms": {"count": 0, "p50": None, "p95": None},
           "rejections": {}, "failures": {}, "latest": []}  # fmt: skip
FAILED = {"items": [{"event_id": EVENT, "failure_reason": "receiver_error",
                     "attempts": [{"number": 1, "status": 500}]}], "continuation": None}  # fmt: skip
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
    """A loopback API: `routes` maps a path, without its query, to what answers it; every request is recorded
    with its query."""

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes, self.seen = routes, list[str]()
        api = self

        class Handler_(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                api.seen.append(f"{self.command} {self.path}")
                route = api.routes.get(self.path.split("?", 1)[0].removeprefix("/api"))
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

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def routes(**changed: Handler) -> dict[str, Handler]:
    """One site, a pool that asks to wait, one subscription with one failed delivery whose replay fails."""
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


def fetched(page: Any, part: str) -> int:
    """How many of the page's fetches so far had `part` in their URL."""
    return int(page.evaluate("(part) => window.fetched.filter((url) => url.includes(part)).length", part))


def rounds(page: Any) -> int:
    """How many rounds of reads the page has finished."""
    return int(page.evaluate("Number(document.body.dataset.refreshed || 0)"))
