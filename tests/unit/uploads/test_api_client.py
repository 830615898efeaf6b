"""The CLI's HTTP client against a loopback server: key header, JSON replies, problem documents, bad replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.jobs.api import _since
from sitelens.api_client import ApiClient, ApiError

# path -> (status, content type, body, declared length or None)
REPLIES: dict[str, tuple[int, str, bytes, int | None]] = {
    "/api/ok": (201, "application/json", b'{"blob_name": "photos/x"}', None),
    "/api/empty": (204, "application/json", b"", None),
    "/api/problem": (400, "application/problem+json", b'{"reason": "invalid_site_id", "detail": "bad"}', None),
    "/api/html": (200, "text/html", b"<html>proxy login</html>", None),
    "/api/html-error": (502, "text/html", b"<html>bad gateway</html>", None),
    "/api/cut": (200, "application/json", b'{"blob', 100),
}
PAGES = {  # GET /api/jobs?site=s1&limit=2[&continuation=...]
    None: {"jobs": [{"id": "j1"}, {"id": "j2"}], "continuation": "t+/="},
    "t+/=": {"jobs": [{"id": "j3"}], "continuation": None},
}


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"path": self.path, "key": self.headers.get("x-functions-key"), "body": json.loads(raw)})
            status, media, body, length = REPLIES[self.path]
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(length if length is not None else len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            seen.append({"path": url.path, "query": query})
            body = json.dumps(PAGES[query.get("continuation", [None])[0]]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_json_reply_and_the_function_key(server):
    base, seen = server
    assert ApiClient(base, "k1").call("POST", "/ok", {"a": 1}) == (201, {"blob_name": "photos/x"})
    assert seen == [{"path": "/api/ok", "key": "k1", "body": {"a": 1}}]
    assert ApiClient(base, None).call("POST", "/empty", {}) == (204, {})
    assert seen[-1]["key"] is None


def test_problem_documents_become_api_errors(server):
    with pytest.raises(ApiError) as err:
        ApiClient(server[0], "k").post("/problem", {})
    assert err.value.status == 400 and err.value.doc["reason"] == "invalid_site_id"


@pytest.mark.parametrize(("path", "status"), [("/html", 502), ("/html-error", 502)])
def test_a_reply_that_is_not_the_apis_is_an_error_not_a_grant(server, path, status):
    with pytest.raises(ApiError) as err:
        ApiClient(server[0], "k").post(path, {})
    assert err.value.status == status and "html" in err.value.doc["detail"]


def test_a_reply_cut_short_is_a_connection_failure(server):
    with pytest.raises(ConnectionError):
        ApiClient(server[0], "k").post("/cut", {})


def test_site_jobs_follows_continuation_tokens(server):
    base, seen = server
    assert [j["id"] for j in ApiClient(base, "k").site_jobs("s1", page_size=2)] == ["j1", "j2", "j3"]
    assert [r["query"] for r in seen] == [
        {"site": ["s1"], "limit": ["2"]},
        {"site": ["s1"], "limit": ["2"], "continuation": ["t+/="]},  # sent encoded, read back intact
    ]


@pytest.mark.parametrize(
    ("since", "sent"),
    [(datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000000Z"),
     (datetime(26, 11, 22, 18, tzinfo=timezone(timedelta(hours=10))), "0026-11-22T08:00:00.000000Z"),
     (datetime(2026, 11, 22, 8, 0, 0, 5, tzinfo=UTC), "2026-11-22T08:00:00.000005Z")],
)  # fmt: skip
def test_site_jobs_sends_since_in_utc_with_a_four_digit_year_the_api_reads(server, since, sent):
    base, seen = server
    ApiClient(base, "k").site_jobs("s1", page_size=2, since=since)
    assert seen[0]["query"]["since"] == [sent]
    assert _since({"since": sent}) == since  # the API reads it back as the same instant
