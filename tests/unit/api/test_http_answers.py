"""What function_app.py adds to every API answer: HEAD wherever GET is (same status and headers, no body),
`Cache-Control: no-store` where an answer sets none, and 411 for a body the Functions host dropped."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import azure.functions as func
import pytest

from emulators.functions_host.index import index_app, load_app
from shared import composition
from tests.unit.api.fakes import JOB_ID, PROBLEM_MEMBERS, REPO, jobs_api, upload_service

SPECS = index_app(load_app(REPO))
FUNCTIONS = {spec.name: spec.user_function for spec in SPECS}
CHUNKED = {"transfer-encoding": "chunked"}


def http_routes() -> dict[str, list[set[str]]]:
    """Each route template with the methods of each function that serves it."""
    routes: dict[str, list[set[str]]] = defaultdict(list)
    for spec in SPECS:
        if spec.trigger.type == "httpTrigger":
            routes[spec.trigger.raw["route"]].append({m.upper() for m in spec.trigger.raw.get("methods") or []})
    return routes


@pytest.fixture(autouse=True)
def app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's settings accepted, the status API and uploads on in-memory fakes, webhooks never reached."""

    def not_reached() -> Any:
        raise AssertionError("the function reached the service")

    monkeypatch.setattr(composition, "unavailable", lambda: None)
    monkeypatch.setattr(composition, "jobs_api", lambda: jobs_api()[0])
    monkeypatch.setattr(composition, "uploads", upload_service)
    monkeypatch.setattr(composition, "webhooks", not_reached)


def call(function: str, method: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"",
         route_params: dict[str, str] | None = None) -> func.HttpResponse:  # fmt: skip
    request = func.HttpRequest(method, f"http://localhost/api/{path}", headers=headers or {},
                               route_params=route_params or {}, body=body)  # fmt: skip
    response: func.HttpResponse = FUNCTIONS[function](request)
    return response


def problem_reason(response: func.HttpResponse) -> str:
    doc = json.loads(response.get_body())
    assert set(doc) >= PROBLEM_MEMBERS and doc["status"] == response.status_code
    return str(doc["reason"])


def test_every_get_route_serves_head_in_the_same_function_and_no_405_function_claims_it():
    routes = http_routes()
    assert any("GET" in methods for served in routes.values() for methods in served)
    for route, served in routes.items():
        for methods in served:
            assert "GET" not in methods or "HEAD" in methods, (route, methods)
        claimed = [m for methods in served for m in methods]
        assert len(claimed) == len(set(claimed)), route  # one function per method, so the order never matters


@pytest.mark.parametrize(
    ("function", "path", "route_params", "headers"),
    [
        ("get_job", f"jobs/{JOB_ID}", {"id": JOB_ID}, {}),
        ("get_job", "jobs/nope", {"id": "nope"}, {}),  # a 400 problem
        ("list_jobs", "jobs?site=north-yard", {}, {}),
        ("list_jobs", "jobs", {}, {}),  # a 400 problem
    ],
)
def test_head_answers_what_get_does_without_the_body(function, path, route_params, headers):
    got = call(function, "GET", path, route_params=route_params, headers=headers)
    head = call(function, "HEAD", path, route_params=route_params, headers=headers)
    assert got.get_body() and head.get_body() == b""
    assert (head.status_code, head.mimetype, dict(head.headers)) == (got.status_code, got.mimetype, dict(got.headers))


def test_head_with_a_current_etag_is_a_304_as_get_is():
    etag = call("get_job", "GET", f"jobs/{JOB_ID}", route_params={"id": JOB_ID}).headers["ETag"]
    head = call("get_job", "HEAD", f"jobs/{JOB_ID}", route_params={"id": JOB_ID}, headers={"if-none-match": etag})
    assert head.status_code == 304 and head.headers["ETag"] == etag and head.get_body() == b""


def test_head_on_a_route_without_get_is_405_naming_the_methods_it_serves():
    response = call("method_not_allowed_uploads", "HEAD", "uploads")
    assert response.status_code == 405 and response.headers["Allow"] == "POST" and response.get_body() == b""
    listing = call("method_not_allowed_jobs", "PUT", "jobs")
    assert listing.headers["Allow"] == "GET, HEAD" and problem_reason(listing) == "method_not_allowed"


@pytest.mark.parametrize(
    ("function", "path", "route_params", "status"),
    [
        ("list_jobs", "jobs?site=north-yard", {}, 200),
        ("list_jobs", "jobs", {}, 400),
        ("get_job", "jobs/nope", {"id": "nope"}, 400),
        ("get_job", f"jobs/{'j_' + 'b' * 26}", {"id": "j_" + "b" * 26}, 404),
        ("method_not_allowed_jobs", "jobs", {}, 405),
    ],
)
def test_an_answer_that_sets_no_cache_control_is_no_store(function, path, route_params, status):
    response = call(function, "GET" if status != 405 else "PUT", path, route_params=route_params)
    assert response.status_code == status and response.headers["Cache-Control"] == "no-store"


def test_a_job_keeps_its_own_cache_control():
    response = call("get_job", "GET", f"jobs/{JOB_ID}", route_params={"id": JOB_ID})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "private, no-cache"


@pytest.mark.parametrize(
    ("function", "path", "route_params"),
    [
        ("request_upload", "uploads", {}),
        ("add_job_feedback", f"jobs/{JOB_ID}/feedback", {"id": JOB_ID}),
        ("create_subscription", "subscriptions", {}),
    ],
)
def test_a_body_sent_chunked_that_arrived_empty_is_411_before_anything_reads_it(function, path, route_params):
    response = call(function, "POST", path, route_params=route_params, headers=CHUNKED, body=b"")
    assert response.status_code == 411 and response.mimetype == "application/problem+json"
    assert problem_reason(response) == "length_required" and response.headers["Cache-Control"] == "no-store"


def test_a_body_that_arrived_is_read_however_it_was_sent_and_an_empty_one_without_framing_is_still_empty():
    body = b'{"site_id": "north-yard", "device_id": "cam-1", "photo_id": "IMG_1"}'
    assert call("request_upload", "POST", "uploads", headers=CHUNKED, body=body).status_code == 201
    empty = call("request_upload", "POST", "uploads", headers={"content-length": "0"}, body=b"")
    assert empty.status_code == 400 and problem_reason(empty) == "invalid_site_id"


def test_a_route_that_reads_no_body_ignores_one_the_host_dropped():
    retried = call("retry_job", "POST", f"jobs/{JOB_ID}/retry", route_params={"id": JOB_ID}, headers=CHUNKED)
    assert retried.status_code == 400 and problem_reason(retried) == "not_failed"  # the fake job is RUNNING
