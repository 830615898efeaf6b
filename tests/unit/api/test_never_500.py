"""Property: whatever JSON (or bytes) arrives, every API answers 2xx or a 4xx problem document, never a 5xx.

Arbitrary JSON values in each member the APIs read, arbitrary bytes, nesting of any depth, arbitrary query
parameters and path ids; every refusal must be a complete RFC 9457 document whose reason is documented.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.uploads import api as uploads_api
from shared.webhooks import api as webhooks_api
from tests.unit.api.fakes import JOB_ID, PROBLEM_MEMBERS, documented_codes, jobs_api, upload_service, webhook_service

DOCUMENTED = documented_codes()
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


def members(*names: str) -> st.SearchStrategy[dict[str, Any]]:
    """Objects holding any of the API's own members, with any JSON value, plus a few others."""
    named = st.fixed_dictionaries({}, optional=dict.fromkeys(names, json_values))
    return st.tuples(named, st.dictionaries(st.text(max_size=8), json_values, max_size=2)).map(
        lambda pair: {**pair[1], **pair[0]}
    )


@st.composite
def nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.integers(min_value=1, max_value=70_000))
    opener = draw(st.sampled_from([b"[", b'{"a":', b'{"url":[']))
    closed = draw(st.booleans())
    return opener * depth + (b"]" * depth if closed and opener == b"[" else b"")


def body_of(value: object) -> st.SearchStrategy[bytes]:
    return st.just(json.dumps(value).encode())


def bodies(*names: str) -> st.SearchStrategy[bytes]:
    return members(*names).flatmap(body_of) | json_values.flatmap(body_of) | st.binary(max_size=300) | nested()


def assert_answer(status: int, doc: Any) -> None:
    assert status < 500, doc
    if status >= 400:
        assert isinstance(doc, dict) and set(doc) == PROBLEM_MEMBERS and doc["status"] == status, doc
        assert doc["reason"] in DOCUMENTED and doc["type"].endswith("#" + doc["reason"]), doc


@settings(max_examples=300, deadline=None)
@given(bodies("site_id", "device_id", "photo_id", "ext", "content_type"))
def test_uploads_never_answer_5xx(raw: bytes) -> None:
    assert_answer(*uploads_api.handle(upload_service(), raw).pair())


@settings(max_examples=300, deadline=None)
@given(bodies("url", "site", "event_types"))
def test_subscriptions_never_answer_5xx(raw: bytes) -> None:
    assert_answer(*webhooks_api.handle(webhook_service(), "create", {}, raw).pair())


@settings(max_examples=300, deadline=None)
@given(bodies("label", "text", "note"))
def test_feedback_never_answers_5xx(raw: bytes) -> None:
    api, _ = jobs_api()
    reply = api.handle("feedback", {"id": JOB_ID}, {}, {}, raw)
    assert_answer(reply.status, reply.body)


query_values = st.text(max_size=40) | st.sampled_from(["north-yard", "50", "0", "100", "101", "2026-11-22T08:00:00Z"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["site", "state", "status", "since", "limit", "continuation", "code"]),
                       query_values))  # fmt: skip
def test_listing_never_answers_5xx(query: dict[str, str]) -> None:
    api, _ = jobs_api()
    reply = api.handle("list", {}, query, {}, b"")
    assert_answer(reply.status, reply.body)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["get", "retry", "feedback"]) | st.sampled_from(["delete", "rotate", "failed", "replay"]),
       st.text(max_size=80), st.text(max_size=80))  # fmt: skip
def test_path_ids_never_answer_5xx(action: str, first: str, second: str) -> None:
    if action in ("get", "retry", "feedback"):
        api, _ = jobs_api()
        reply = api.handle(action, {"id": first}, {}, {}, b'{"label": "x"}')
        assert_answer(reply.status, reply.body)
    else:
        assert_answer(*webhooks_api.handle(webhook_service(), action, {"id": first, "event_id": second}, b"").pair())
