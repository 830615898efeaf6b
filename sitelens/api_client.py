"""A small client for sitelens' HTTP API (stdlib only): the local stack by default, or `--api`/`--key`.

Used by `sitelens demo` and handy in scripts: `ApiClient.of_stack(state_dir).get("/jobs/j_...")`.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

from shared.errors import NotFound
from shared.webhooks.retry import retry_after

TIMEOUT_S = 30.0
BUSY = frozenset({429, 502, 503, 504})  # the API (or its front door) is busy or restarting: ask again later
# In Azure the Functions host answers 404 with no problem document when no function serves the path (docs/api.md).
NO_FUNCTION = ("no function of the app answers this path: is the API URL the app's, ending in /api, and are its "
               "functions loaded?")  # fmt: skip


class ApiError(RuntimeError):
    """An answer that is not a success. `retry_after`: the seconds its Retry-After asked for, if any."""

    def __init__(self, status: int, doc: dict[str, Any], retry_after: float | None = None) -> None:
        reason = f" {doc['reason']}" if doc.get("reason") else ""
        detail = NO_FUNCTION if status == 404 and not reason else doc.get("detail", doc)
        super().__init__(f"HTTP {status}{reason}: {detail}")
        self.status, self.doc, self.retry_after = status, doc, retry_after

    @property
    def transient(self) -> bool:
        return self.status in BUSY

    @property
    def not_found(self) -> bool:
        """The app's own answer that it has no such resource (its problem document's reason `not_found`). Any other
        404 (the host's, for a path no function serves: a URL without /api, functions not loaded) says nothing of it."""
        return self.status == 404 and self.doc.get("reason") == NotFound.reason


def asked_wait(headers: Mapping[str, str] | Message) -> float | None:
    """The seconds an answer's `Retry-After` asks for (a number or an HTTP date); None without one."""
    wait = retry_after(dict(headers.items()), datetime.now(UTC))
    return wait.total_seconds() if wait is not None else None


def rfc3339(at: datetime, timespec: str = "microseconds") -> str:
    """`at` in UTC as RFC 3339 text ending `Z`, as `since` is sent and shown. Not strftime's %Y, which glibc does not
    pad below the year 1000: `--since 0026-11-22` would go out as `26-11-22…`, which the API refuses."""
    return at.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _excerpt(raw: bytes) -> str:
    return raw[:200].decode("utf-8", "replace")


@dataclass(frozen=True)
class ApiClient:
    base: str  # ends with /api
    key: str | None

    @classmethod
    def of_stack(cls, state_dir: Path) -> ApiClient:
        """The local stack in `state_dir` (its `stack.json`), whatever the environment says."""
        doc = json.loads((state_dir / "stack.json").read_text())
        return cls(str(doc["functions"]["api"]).rstrip("/"), doc["functions"]["host_key"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        status, doc, _ = self.exchange(method, path, body)
        return status, doc

    def exchange(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any], float | None]:
        """(status, document, the seconds its Retry-After asks for) of a successful call; ApiError otherwise."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.key:
            request.add_header("x-functions-key", self.key)
        try:
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    status, raw, wait = response.status, response.read(), asked_wait(response.headers)
            except urllib.error.HTTPError as exc:
                with exc:
                    raw = exc.read()
                problem = _json_object(raw) or {"detail": _excerpt(raw)}
                raise ApiError(exc.code, problem, asked_wait(exc.headers)) from None
        except http.client.HTTPException as exc:  # a reply cut short: a connection failure to callers
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        doc = _json_object(raw) if raw else {}
        if doc is None:  # a proxy's HTML page, say: not an answer from the API
            raise ApiError(502, {"reason": "bad_response", "detail": _excerpt(raw)})
        return status, doc, wait

    def get(self, path: str) -> dict[str, Any]:
        return self.call("GET", path)[1]

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", path, body)[1]

    def site_jobs(
        self, site: str, page_size: int = 100, *, since: datetime | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        """A site's jobs, `GET /jobs?site=` page by page (continuation tokens): every one, or those received at
        or after `since` and in `state` (both filters applied by the API)."""
        jobs: list[dict[str, Any]] = []
        query: dict[str, str] = {"site": site, "limit": str(page_size)}
        if since:
            query["since"] = rfc3339(since)
        if state:
            query["state"] = state
        while True:
            page = self.get(f"/jobs?{urllib.parse.urlencode(query)}")
            jobs.extend(page.get("jobs", []))
            if not page.get("continuation"):
                return jobs
            query["continuation"] = str(page["continuation"])
