"""The one reply type: errors become problem documents, and a wrong method a 405 that names the right ones."""

from __future__ import annotations

import json

from shared import problems
from shared.errors import Conflict, InvalidInput, NotFound, TransientError
from shared.http_reply import (
    METHODS,
    Reply,
    allowed_methods,
    length_required,
    method_not_allowed,
    methods_served,
    not_allowed_function_name,
    other_methods,
)
from tests.unit.api.fakes import PROBLEM_MEMBERS, documented_codes


def test_each_error_kind_is_a_problem_document_at_its_status() -> None:
    cases = [
        (InvalidInput("x", reason="bad_job_id"), 400),
        (NotFound("x", reason="not_found"), 404),
        (Conflict("x", reason="photo_id_conflict"), 409),
        (TransientError("x", reason="transient"), 503),
    ]
    for error, status in cases:
        reply = Reply.error(error)
        assert reply.status == status
        assert reply.media_type == problems.MEDIA_TYPE
        assert reply.body is not None and set(reply.body) == PROBLEM_MEMBERS
        assert reply.body["status"] == status and reply.body["reason"] == error.reason


def test_a_success_is_plain_json_unless_told_otherwise() -> None:
    assert Reply(200, {"a": 1}).media_type == "application/json"
    assert Reply(503, {"status": "degraded"}, media="application/json").media_type == "application/json"
    assert Reply(204).encoded() is None
    assert json.loads(Reply(201, {"id": "x"}).encoded() or b"") == {"id": "x"}


def test_a_wrong_method_is_405_naming_every_method_the_route_serves() -> None:
    reply = method_not_allowed("subscriptions", {"POST", "GET"})
    assert reply.status == 405
    assert reply.headers == {"Allow": "GET, POST"}
    assert reply.body is not None and reply.body["reason"] == "method_not_allowed"
    assert "method_not_allowed" in documented_codes()


def test_methods_of_one_route_from_several_functions_are_merged() -> None:
    allowed = allowed_methods([("subscriptions", "post"), ("subscriptions", "GET"), ("jobs", "GET")])
    assert allowed == {"subscriptions": frozenset({"GET", "POST"}), "jobs": frozenset({"GET"})}


def test_each_route_has_its_own_405_function_name() -> None:
    routes = ["subscriptions", "subscriptions/{id}", "subscriptions/{id}/rotate", "health/details", "openapi.json"]
    names = [not_allowed_function_name(route) for route in routes]
    assert len(set(names)) == len(names)
    assert all(name.isidentifier() for name in names)


def test_the_405_function_lists_exactly_the_methods_the_route_does_not() -> None:
    served = frozenset({"GET", "POST"})
    others = other_methods(served)
    assert not served & set(others)
    assert served | set(others) == set(METHODS)


def test_a_reply_that_sets_no_cache_control_is_sent_no_store_and_one_that_does_keeps_its_own() -> None:
    assert Reply(200, {"a": 1}).headers_to_send() == {"Cache-Control": "no-store"}
    assert Reply.error(NotFound("x")).headers_to_send()["Cache-Control"] == "no-store"
    own = Reply(200, {"a": 1}, {"cache-control": "no-cache", "ETag": 'W/"1"'})
    assert own.headers_to_send() == {"cache-control": "no-cache", "ETag": 'W/"1"'}


def test_a_get_function_serves_head_too_and_no_other_method_brings_one() -> None:
    assert methods_served("GET") == ["GET", "HEAD"]
    assert [methods_served(m) for m in ("POST", "DELETE")] == [["POST"], ["DELETE"]]
    served = frozenset(methods_served("GET"))
    assert "HEAD" not in other_methods(served) and method_not_allowed("jobs", served).headers == {"Allow": "GET, HEAD"}


def test_a_body_the_host_dropped_is_a_411_problem_with_a_documented_reason() -> None:
    reply = length_required()
    assert reply.status == 411 and reply.media_type == problems.MEDIA_TYPE
    assert reply.body is not None and set(reply.body) == PROBLEM_MEMBERS
    assert reply.body["reason"] == "length_required" and "length_required" in documented_codes()
