"""Property: whatever JSON (or bytes) arrives, every API answers 2xx or a 4xx problem document, never a 5xx.

Arbitrary JSON values in each member the APIs read, arbitrary bytes, nesting of any depth, arbitrary query
parameters and path ids; every refusal must be a complete RFC 9457 document whose reason is documented.
Arbitrary bodies are refused by the first checks, so each body property also sends bodies near a valid one
(one member changed) and asserts that they got past those checks: some were accepted (and kept), some refused
by the later checks.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.uploads import api as uploads_api
from shared.webhooks import api as webhooks_api
from shared.webhooks.models import EVENT_TYPES
from tests.unit.api.fakes import JOB_ID, PROBLEM_MEMBERS, documented_codes, jobs_api, upload_service, webhook_service

DOCUMENTED = documented_codes()
EXTENSION_MEMBERS = {"subscription_exists": {"subscription_id"}}  # a problem's own members, as RFC 9457 allows
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)  # fmt: skip
Answer = Callable[[bytes], tuple[int, Any]]


@dataclass(frozen=True)
class Body:
    """An endpoint's request body: valid ones; per member, values of the right shape that the later checks may
    still refuse beside the others; and the reasons only those later checks give."""

    valid: st.SearchStrategy[dict[str, Any]]
    values: Mapping[str, st.SearchStrategy[Any]]
    later_reasons: frozenset[str]


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", fullmatch=True)
clean_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=200)
# Loopback receivers only: the tests' policy allows them, and registering one sends nothing.
loopback_urls = st.builds("{}://127.0.0.1:{}/{}".format, st.sampled_from(["http", "https"]),
                          st.integers(1, 65535), st.from_regex(r"[a-z0-9/]{0,20}", fullmatch=True))  # fmt: skip
media = st.sampled_from([{}, {"ext": "jpg"}, {"ext": "jpeg"}, {"ext": "png"}, {"content_type": "image/png"},
                         {"ext": "jpeg", "content_type": "image/jpeg"},
                         {"ext": None, "content_type": None}])  # fmt: skip
UPLOAD = Body(
    st.builds(lambda site, device, photo, kind: {"site_id": site, "device_id": device, "photo_id": photo, **kind},
              ids, ids, ids, media),
    {"site_id": ids, "device_id": ids, "photo_id": ids, "ext": st.sampled_from(["jpg", "jpeg", "png"]),
     "content_type": st.sampled_from(["image/jpeg", "image/png"])},  # ext and content_type must agree
    frozenset({"invalid_device_id", "invalid_photo_id", "type_mismatch"}),
)  # fmt: skip
SUBSCRIPTION = Body(
    st.fixed_dictionaries({"url": loopback_urls}, optional={
        "site": st.none() | st.just("*") | ids,
        "event_types": st.none() | st.lists(st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=3)}),
    {"url": loopback_urls, "site": st.just("*") | ids,  # event types of the right shape, mostly unknown ones
     "event_types": st.lists(st.text(max_size=16) | st.sampled_from(sorted(EVENT_TYPES)), min_size=1, max_size=4)},
    frozenset({"invalid_site", "invalid_event_types", "unknown_event_type"}),
)  # fmt: skip
FEEDBACK = Body(
    st.sampled_from(["label", "text", "note"]).flatmap(  # at least one given, the others maybe null
        lambda given: st.fixed_dictionaries({given: clean_text}, optional={
            other: clean_text | st.none() for other in ("label", "text", "note") if other != given})),
    {"label": clean_text, "text": clean_text, "note": clean_text,  # boxes: a detect job's, not this OCR job's
     "boxes": st.lists(st.fixed_dictionaries({"label": ids, "box": st.lists(st.integers(0, 2000), min_size=4,
                                                                             max_size=4)}), max_size=2)},
    frozenset({"feedback_wrong_kind"}),
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
    """Any body at all: the API's members with any values, any JSON, any bytes, deep nesting."""
    return members(*names).flatmap(body_of) | json_values.flatmap(body_of) | st.binary(max_size=300) | nested()


@st.composite
def one_changed(draw: st.DrawFn, body: Body, name: str) -> bytes:
    """A valid body with member `name` set to a value of its shape beside a member the API does not read, set to
    any JSON value but null (which is what dropping it does), or dropped. A value of its shape comes first, as
    the simplest example, which Hypothesis always tries."""
    doc = draw(body.valid)
    change = draw(st.sampled_from(["shape", "any", "drop"]))
    if change == "shape":
        doc[name] = draw(body.values[name])
        doc.setdefault(draw(st.text(max_size=8).filter(lambda other: other not in body.values)), draw(json_values))
    elif change == "any":
        doc[name] = draw(json_values.filter(lambda value: value is not None))
    else:
        doc.pop(name, None)
    return json.dumps(doc).encode()


def assert_answer(status: int, doc: Any) -> None:
    assert status < 500, doc
    if status >= 400:
        assert isinstance(doc, dict) and doc.get("status") == status, doc
        assert doc.get("reason") in DOCUMENTED and doc["type"].endswith("#" + doc["reason"]), doc
        assert set(doc) == PROBLEM_MEMBERS | EXTENSION_MEMBERS.get(doc["reason"], set()), doc


def outcomes(raw_bodies: st.SearchStrategy[bytes], answer: Answer, examples: int) -> Counter[str]:
    """Each body's answer checked by `assert_answer`; how many were accepted ("2xx") and refused, by reason."""
    seen: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(raw_bodies)
    def check(raw: bytes) -> None:
        status, doc = answer(raw)
        assert_answer(status, doc)
        seen["2xx" if status < 300 else doc["reason"]] += 1

    check()
    return seen


def any_and_near(body: Body, answer: Answer, examples: int) -> Counter[str]:
    """Half the examples any body at all, half near a valid one, shared among its members (each changed in
    turn, so none is left to chance); the answers to all of them."""
    near = (outcomes(one_changed(body, name), answer, examples // 2 // len(body.values)) for name in body.values)
    return sum(near, outcomes(bodies(*body.values), answer, examples // 2))


def assert_deep(seen: Counter[str], body: Body, reasons: int) -> None:
    """Some accepted, some refused by the later checks, and at least `reasons` reasons in all: not only the
    first checks were reached."""
    refused = set(seen) - {"2xx"}
    assert seen["2xx"] > 0 and body.later_reasons & refused and len(refused) >= reasons, seen


def upload_answer(raw: bytes) -> tuple[int, Any]:
    return uploads_api.handle(upload_service(), raw).pair()


def subscription_answer(raw: bytes) -> tuple[int, Any]:
    return webhooks_api.handle(webhook_service(), "create", {}, raw).pair()


def feedback_answer(raw: bytes) -> tuple[int, Any]:
    api, store = jobs_api()
    reply = api.handle("feedback", {"id": JOB_ID}, {}, {}, raw)
    if reply.status < 300:  # accepted is kept
        assert [job for job, _ in store.feedback] == [JOB_ID], reply.body
    return reply.status, reply.body


def test_uploads_never_answer_5xx() -> None:
    assert_deep(any_and_near(UPLOAD, upload_answer, 300), UPLOAD, reasons=3)


def test_subscriptions_never_answer_5xx() -> None:
    assert_deep(any_and_near(SUBSCRIPTION, subscription_answer, 300), SUBSCRIPTION, reasons=3)


def test_feedback_never_answers_5xx() -> None:
    assert_deep(any_and_near(FEEDBACK, feedback_answer, 300), FEEDBACK, reasons=2)


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
