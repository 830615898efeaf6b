"""The one reply every HTTP API module returns: status, JSON body, headers, media type.

The API modules (jobs, uploads, webhooks, health) stay independent of the HTTP framework; function_app.py
renders a `Reply` in one place. Errors are RFC 9457 problem documents (shared/problems.py), built here from
the error tree so no module picks its own status or body shape.

A reply that sets no `Cache-Control` is sent with `no-store`: a cache in front of the app (a CDN, a front door)
would otherwise be free to keep listings, health and errors under a cache key that lacks the caller's function
key. A reply that sets its own keeps it (a job's `private, no-cache`, shared/jobs/api.py).

HEAD is served wherever GET is, with GET's status and headers and no body (RFC 9110 §9.3.2): an Azure Front
Door health probe is a HEAD by default.

A wrong method on a known route: the Functions host answers 404 when no function lists the method (its
router treats the method as part of the match), so the app registers, for each of its routes, one more
function that lists every other method a function can list and answers 405 with `Allow` (RFC 9110 §15.5.6).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared import problems
from shared.errors import SitelensError

# The methods a Python function can list (azure.functions' HttpMethod). TRACE, QUERY and the rest are not
# among them, so no function can claim them: the host answers those with its own 404 on every route.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_CACHE_CONTROL = "no-store"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    media: str | None = None  # None: a problem document for an error, plain JSON otherwise

    @property
    def media_type(self) -> str:
        return self.media or problems.media_type(self.status)

    def pair(self) -> tuple[int, Any]:
        """(status, body): what a caller that ignores headers compares."""
        return self.status, self.body

    def encoded(self) -> bytes | None:
        return json.dumps(self.body).encode() if self.body is not None else None

    def headers_to_send(self) -> dict[str, str]:
        """The reply's headers, with `Cache-Control: no-store` where it sets none."""
        sent = dict(self.headers)
        if not any(name.lower() == "cache-control" for name in sent):
            sent["Cache-Control"] = DEFAULT_CACHE_CONTROL
        return sent

    @classmethod
    def problem(cls, status: int, reason: str, detail: str, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, problems.problem(status, reason, detail), dict(headers or {}))

    @classmethod
    def error(cls, exc: SitelensError) -> Reply:
        status, doc = problems.from_error(exc)
        return cls(status, doc)


def method_not_allowed(route: str, allowed: Iterable[str]) -> Reply:
    allow = ", ".join(sorted(set(allowed)))
    return Reply.problem(405, "method_not_allowed", f"/{route} answers {allow}", {"Allow": allow})


def length_required() -> Reply:
    """A body that never reached the app (shared/request_body.py, `lost_in_transit`): refused rather than read as
    empty, which would answer a misleading 400 about the first member it lacks."""
    detail = "the request body was sent without Content-Length (Transfer-Encoding); send it with Content-Length"
    return Reply.problem(411, reason="length_required", detail=detail)


def methods_served(method: str) -> list[str]:
    """The methods a function that serves `method` lists: GET brings HEAD along."""
    return [method, "HEAD"] if method.upper() == "GET" else [method]


def allowed_methods(routes: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """Each route template with every method some function serves on it (one route may have several)."""
    allowed: dict[str, set[str]] = {}
    for route, method in routes:
        allowed.setdefault(route, set()).add(method.upper())
    return {route: frozenset(methods) for route, methods in allowed.items()}


def not_allowed_function_name(route: str) -> str:
    """`subscriptions/{id}/rotate` → `method_not_allowed_subscriptions_id_rotate`, readable in logs (two routes
    that differ only in punctuation would clash, and indexing refuses a duplicate name loudly)."""
    return "method_not_allowed_" + "_".join(re.findall(r"[A-Za-z0-9]+", route))


def other_methods(allowed: frozenset[str]) -> list[str]:
    return [m for m in METHODS if m not in allowed]
