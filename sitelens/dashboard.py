"""The dashboard's web server: a page on 127.0.0.1, and a proxy that adds the operator's key to its API calls.

The page never holds the function key: it calls `/api/...` on this server, which forwards only the
read-mostly calls the page needs (`ALLOWED`) with the key added, and a query only where the page pages through
a listing (`PAGED`). Three guards keep other local pages and other hosts out: the server binds 127.0.0.1 only;
a request whose Host is not this server's (DNS rebinding) is refused; a POST (the one write, a webhook replay)
must carry `X-Sitelens-Dashboard`, a header a cross-origin page cannot send without a CORS preflight, which
this server never grants.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

from sitelens.dashboard_sampler import PoolSampler

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "dashboard_static"
ASSETS = {"/": ("index.html", "text/html; charset=utf-8"),
          "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/static/webhooks.js": ("webhooks.js", "text/javascript; charset=utf-8"),
          "/static/style.css": ("style.css", "text/css; charset=utf-8")}  # fmt: skip
_SUB = r"sub_[0-9a-f]{32}"
# The one listing the page reads page by page, and the query it may pass on: any other query is dropped.
PAGED = re.compile(rf"/subscriptions/{_SUB}/failed")
PAGE_QUERY = ("limit", "continuation")
ALLOWED: list[tuple[str, re.Pattern[str]]] = [
    ("GET", re.compile(r"/sites/[A-Za-z0-9][A-Za-z0-9_-]{0,63}/summary")),
    ("GET", re.compile(r"/pool")),
    ("GET", re.compile(r"/jobs/j_[a-z2-7]{26}")),
    ("GET", re.compile(r"/subscriptions")),
    ("GET", re.compile(rf"/subscriptions/{_SUB}/deliveries")),
    ("GET", PAGED),
    ("POST", re.compile(rf"/subscriptions/{_SUB}/deliveries/[A-Za-z0-9][A-Za-z0-9_.-]{{0,127}}/replay")),
]
CSRF_HEADER = "X-Sitelens-Dashboard"
CSP = "default-src 'self'; img-src 'self' http: https: data:; style-src 'self'; frame-ancestors 'none'"
UPSTREAM_TIMEOUT_S = 30.0
_RETRY_AFTER = re.compile(r"[A-Za-z0-9 ,:-]{1,64}")  # seconds or an HTTP date, and nothing that could end a header


class Answer(NamedTuple):
    """The API's answer as the dashboard passes it on: `retry_after` is its Retry-After header, if any."""

    status: int
    media: str
    body: bytes
    retry_after: str | None = None


@dataclass(frozen=True)
class Upstream:
    """The sitelens API (base ending in /api) and the key this process holds for it."""

    base: str
    key: str | None

    def forward(self, method: str, path: str) -> Answer:
        """The API's answer, errors included, as the API gave it; a 502 problem when it gave none."""
        request = urllib.request.Request(self.base + path, data=b"" if method == "POST" else None, method=method)
        if self.key:
            request.add_header("x-functions-key", self.key)
        try:
            try:
                with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S) as response:
                    return Answer(response.status, response.headers.get("Content-Type", "application/json"),
                                  response.read(), response.headers.get("Retry-After"))  # fmt: skip
            except urllib.error.HTTPError as exc:
                with exc:
                    return Answer(exc.code, exc.headers.get("Content-Type", "application/problem+json"), exc.read(),
                                  exc.headers.get("Retry-After"))  # fmt: skip
        # Refused, timed out, reset, or a body cut short (IncompleteRead is an HTTPException, not an OSError):
        # the API did not answer.
        except (OSError, ValueError, http.client.HTTPException) as exc:
            doc = {"status": 502, "title": "Bad Gateway", "reason": "api_unreachable", "detail": repr(exc)}
            return Answer(502, "application/problem+json", json.dumps(doc).encode())

    def get_json(self, path: str) -> tuple[int, Any, str | None]:
        """(status, JSON document or None, Retry-After) of a GET."""
        answer = self.forward("GET", path)
        try:
            return answer.status, json.loads(answer.body), answer.retry_after
        except ValueError:
            return answer.status, None, answer.retry_after


def allowed(method: str, path: str) -> bool:
    return any(m == method and pattern.fullmatch(path) for m, pattern in ALLOWED)


def forwarded_query(path: str, query: str) -> str:
    """The part of a GET's query the API gets ("" or "?..."): a paged listing's `limit` and `continuation`, the
    first of each, encoded again; the API checks their values (400 `bad_query`)."""
    if not PAGED.fullmatch(path):
        return ""
    first: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name in PAGE_QUERY:
            first.setdefault(name, value)
    return "?" + urllib.parse.urlencode(first) if first else ""


@dataclass
class Dashboard:
    upstream: Upstream
    sites: list[str]
    port: int = 0  # 0: any free port
    sample_every_s: float = 5.0
    sampler: PoolSampler = field(init=False)
    server: ThreadingHTTPServer = field(init=False)

    def __post_init__(self) -> None:
        self.sampler = PoolSampler(lambda: self.upstream.get_json("/pool"), every_s=self.sample_every_s)
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def config(self) -> dict[str, Any]:
        return {"sites": self.sites, "api": self.upstream.base, "sample_every_s": self.sample_every_s}

    def start(self) -> Dashboard:
        self.sampler.start()
        # A short poll: stop() returns within a tenth of a second instead of the default half.
        threading.Thread(target=self.server.serve_forever, args=(0.1,), name="sitelens-dashboard", daemon=True).start()
        return self

    def stop(self) -> None:
        self.sampler.stop()
        self.server.shutdown()
        self.server.server_close()


def _handler(dashboard: Dashboard) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"dashboard": dashboard})


class _Handler(BaseHTTPRequestHandler):
    server_version = "sitelens-dashboard"
    dashboard: Dashboard  # set on the subclass each server gets

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, media: str, retry_after: str | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": media, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                   "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer"}  # fmt: skip
        if retry_after is not None and _RETRY_AFTER.fullmatch(retry_after):  # the API's, so the page waits as asked
            headers["Retry-After"] = retry_after
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _problem(self, status: int, reason: str, detail: str) -> None:
        doc = {"status": status, "title": HTTPStatus(status).phrase, "reason": reason, "detail": detail}
        self._send(status, json.dumps(doc).encode(), "application/problem+json")

    def _guarded(self) -> bool:
        port = self.dashboard.port
        if self.headers.get("Host", "") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            self._problem(421, "wrong_host", "this dashboard answers only on its own loopback address")
            return False
        return True

    def do_GET(self) -> None:
        if not self._guarded():
            return
        path, _, query = self.path.partition("?")
        local = {"/local/config": self.dashboard.config, "/local/pool-history": self._history}
        if path in ASSETS:
            name, media = ASSETS[path]
            self._send(200, (STATIC / name).read_bytes(), media)
        elif path in local:
            self._send(200, json.dumps(local[path]()).encode(), "application/json")
        else:
            self._proxy("GET", path, query)

    def _history(self) -> dict[str, Any]:
        # The page's pool figures come from here too, never from its own call to the API: only the sampler
        # reads /pool, at its pace and as long after a 429 or 503 as the API asked.
        return {"samples": self.dashboard.sampler.samples(), "now": self.dashboard.sampler.latest()}

    def do_POST(self) -> None:
        if not self._guarded():
            return
        if self.headers.get(CSRF_HEADER) != "1":
            self._problem(403, "forbidden", f"a POST needs the {CSRF_HEADER} header the page sends")
            return
        self._proxy("POST", self.path.split("?", 1)[0])

    def _proxy(self, method: str, path: str, query: str = "") -> None:
        api_path = path.removeprefix("/api")
        if not path.startswith("/api/") or not allowed(method, api_path):
            self._problem(404, "route_not_found", f"{method} {path} is not one the dashboard forwards")
            return
        answer = self.dashboard.upstream.forward(method, api_path + forwarded_query(api_path, query))
        self._send(answer.status, answer.body, answer.media, answer.retry_after)
