"""Each API's fields by type and size: the cases of the security review, and their neighbours, as 400s."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest

from shared.uploads import api as uploads_api
from shared.webhooks import api as webhooks_api
from tests.unit.api.fakes import JOB_ID, PROBLEM_MEMBERS, jobs_api, upload_service, webhook_service

LOOPBACK = "http://127.0.0.1:9/hook"


def problem(status: int, doc: Mapping[str, Any] | None, reason: str) -> None:
    assert doc is not None and set(doc) == PROBLEM_MEMBERS, doc
    assert (status, doc["status"], doc["reason"]) == (int(doc["status"]), status, reason)


def token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- GET /jobs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"site": "north-yard", "continuation": "!!!"}, "bad_query"),  # was the first page again
        ({"site": "north-yard", "continuation": "YWJj==="}, "bad_query"),  # padding we never write
        ({"site": "north-yard", "continuation": "YW Jj"}, "bad_query"),
        ({"site": "north-yard", "continuation": token("abcdef")[:-1]}, "bad_query"),  # truncated
        ({"site": "north-yard", "continuation": base64.urlsafe_b64encode(b"\xff\xfe").decode()}, "bad_query"),
        ({"site": "north-yard", "continuation": ""}, "bad_query"),
        ({"site": "north-yard", "continuation": "A" * 600}, "bad_query"),
        ({"site": "north-yard", "limit": "101"}, "bad_query"),
        ({"site": "north-yard", "limit": "1e3"}, "bad_query"),
        ({"site": "north-yard", "limit": "-1"}, "bad_query"),
        ({"site": "north-yard", "limit": "\u0663"}, "bad_query"),  # an Arabic-Indic digit: isdigit() is True
        ({"site": "north-yard", "limit": "9" * 5000}, "bad_query"),
        ({"site": "north-yard", "since": "0001-01-01T00:00:00+05:00"}, "bad_query"),  # overflows in UTC
        ({"site": "north-yard", "since": "2026-11-22T08:00:00" + " " * 100}, "bad_query"),
        ({"site": "north-yard", "status": "done"}, "bad_query"),
        ({"site": "north-yard", "state": "succeeded"}, "bad_query"),  # one spelling, the schema's
        ({"site": "north-yard", "since": ""}, "bad_query"),  # was read as no filter
        ({"site": "north-yard", "state": ""}, "bad_query"),
        ({"site": "north-yard", "status": ""}, "bad_query"),
        ({"site": "north-yard", "status": "FAILED"}, "bad_query"),  # not a second name for state: one spelling
        ({"site": "north-yard", "state": "FAILED", "status": "FAILED"}, "bad_query"),
        ({"site": "../x"}, "invalid_site"),
        ({"site": "s" * 65}, "invalid_site"),
        ({"site": "north-yard\n"}, "invalid_site"),
        ({"site": ""}, "missing_site"),
    ],
)
def test_bad_listing_queries_are_400_problems(query, reason):
    api, _ = jobs_api()
    reply = api.handle("list", {}, query, {}, b"")
    problem(reply.status, reply.body, reason)
    assert reply.media_type == "application/problem+json"


def test_a_token_the_api_gave_is_accepted_and_limit_100_is_the_top():
    api, _ = jobs_api()
    reply = api.handle("list", {}, {"site": "north-yard", "limit": "100", "continuation": token("x")}, {}, b"")
    assert reply.status == 200 and reply.body is not None and [j["id"] for j in reply.body["jobs"]] == [JOB_ID]


# openapi.json declares `since` as `format: date-time`: the API reads exactly the strings that format check
# (jsonschema-rs, as a schema validator reads the contract) accepts, RFC 3339's lowercase t and z among them;
# only a time that is outside the calendar once in UTC (0001-01-01T00:00:00+05:00, above) is refused beyond it.
SINCE_CASES = [
    "2026-11-22T08:00:00Z", "2026-11-22t08:00:00z", "2026-11-22T08:00:00.123456789+05:30",
    "2026-11-22T08:00:00-00:00", "2026-12-31T23:59:60Z", "2026-11-22T08:59:60-15:00",
    "2026-11-22 08:00:00Z", "2026-11-22T08:00Z", "20261122T080000Z", "2026-W47-1T08:00:00Z", "2026-326T08:00:00Z",
    "2026-11-22T08:00:60Z", "2026-11-22T08:00:00+0530", "2026-02-30T08:00:00Z", "2026-11-22T08:00:00,5Z",
    "2026-11-22T24:00:00Z", "2026-11-22T08:00:00+24:00", "2026-11-22T08:00:00+23:60", "2026-11-22T08:00:00.Z",
    "\uff12026-11-22T08:00:00Z", "2026-11-22T08:00:00Z\n", "2026-11-22", "2026-11-22T08:00:00",
]  # fmt: skip


@pytest.mark.parametrize("since", SINCE_CASES)
def test_since_is_read_exactly_as_the_contracts_date_time_format(since):
    checker = jsonschema_rs.validator_for({"type": "string", "format": "date-time"}, validate_formats=True)
    api, _ = jobs_api()
    reply = api.handle("list", {}, {"site": "north-yard", "since": since}, {}, b"")
    assert (reply.status == 200) is checker.is_valid(since), (since, reply.body)


def test_since_keeps_its_instant_lowercase_offsets_and_a_leap_second_included():
    api, _ = jobs_api()
    listed = api.handle("list", {}, {"site": "north-yard"}, {}, b"")
    received = datetime.fromisoformat(listed_jobs(listed)[0]["timings"]["received_at"].replace("Z", "+00:00"))
    for at, shown in ((received, True), (received + timedelta(microseconds=1), False)):
        for text in (
            at.strftime("%Y-%m-%dt%H:%M:%S.%fz"),
            (at + timedelta(hours=-3)).strftime("%Y-%m-%dT%H:%M:%S.%f-03:00"),
        ):
            assert bool(listed_jobs(api.handle("list", {}, {"site": "north-yard", "since": text}, {}, b""))) is shown
    leap = api.handle("list", {}, {"site": "north-yard", "since": "1990-12-31T23:59:60Z"}, {}, b"")
    assert listed_jobs(leap) == listed_jobs(listed)  # a leap second long ago still lists a recent job


@pytest.mark.parametrize(
    ("since", "named"),
    [("2026-11-22T09:00:00 01:00", True), ("2026-11-22T09:00:00.5 05:30", True), ("2026-11-22 09:00:00Z", False),
     ("2026-11-22T09:00:00", False), ("2026-11-22T09:00:00 01:00" + " " * 60, False)],
)  # fmt: skip
def test_an_offset_whose_plus_arrived_as_a_space_is_refused_and_the_detail_says_to_send_2b(since, named):
    """A query decodes '+' as a space, so `+01:00` sent unencoded arrives as ` 01:00`: still refused (a space is
    no sign), and the detail says what to send; any other bad `since` is told only what a date-time is."""
    api, _ = jobs_api()
    reply = api.handle("list", {}, {"site": "north-yard", "since": since}, {}, b"")
    problem(reply.status, reply.body, "bad_query")
    assert reply.body is not None and ("sent as %2B" in reply.body["detail"]) is named


def listed_jobs(reply: Any) -> list[dict[str, Any]]:
    assert reply.status == 200, reply.body
    return list(reply.body["jobs"])


# --- feedback ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 4096, "invalid_json"),
        (b'{"label": "\\ud800"}', "invalid_json"),
        (b'{"label": "a", "label": "b"}', "invalid_json"),
        (b"x" * (64 * 1024 + 1), "invalid_json"),
        (json.dumps({"label": {"a": 1}}).encode(), "bad_feedback"),
        (json.dumps({"text": ["x"]}).encode(), "bad_feedback"),
        (json.dumps({"note": "n" * 2001}).encode(), "bad_feedback"),
        (json.dumps({"label": "bell\x07"}).encode(), "bad_feedback"),
        (json.dumps({"other": "x"}).encode(), "bad_feedback"),
        (json.dumps({"label": None}).encode(), "bad_feedback"),
    ],
)
def test_bad_feedback_is_a_400_problem_and_nothing_is_stored(body, reason):
    api, store = jobs_api()
    reply = api.handle("feedback", {"id": JOB_ID}, {}, {}, body)
    problem(reply.status, reply.body, reason)
    assert store.feedback == []


def test_feedback_at_its_limits_is_kept_with_unicode_and_line_breaks():
    api, store = jobs_api()
    doc = {"label": "l" * 200, "text": "\u00fc\n" * 2000, "note": "\U0001f527" * 2000}
    raw = json.dumps(doc).encode()  # \u-escaped: 6 or 12 bytes a character, still under the cap
    reply = api.handle("feedback", {"id": JOB_ID}, {}, {}, raw)
    assert reply.status == 201 and store.feedback == [(JOB_ID, doc)]


# --- POST /uploads -----------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"[" * 4096, b'{"site_id": "\\udfff"}', b"\xc3\x28", b'{"site_id": NaN}'])
def test_malformed_upload_bodies_are_invalid_json(raw):
    problem(*uploads_api.handle(upload_service(), raw).pair(), "invalid_json")


# --- subscriptions -----------------------------------------------------------------------------
def create(service, doc: object) -> tuple[int, Any]:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return webhooks_api.handle(service, "create", {}, raw).pair()


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"[" * 4096, "invalid_json"),
        ({"url": "http://127.0.0.1/" + "a" * 100_000}, "invalid_json"),  # over the 16 KiB body cap
        ({"url": "http://127.0.0.1/" + "a" * 2100}, "invalid_url"),
        ({"url": 12}, "invalid_url"),
        ({"url": ""}, "invalid_url"),
        ({"url": LOOPBACK + "\x00"}, "invalid_url"),
        ({}, "missing_url"),
        ({"url": None}, "missing_url"),
        ({"url": LOOPBACK, "site": {"a": 1}}, "invalid_site"),
        ({"url": LOOPBACK, "site": 12}, "invalid_site"),  # was stored as an integer
        ({"url": LOOPBACK, "site": "a/b"}, "invalid_site"),
        ({"url": LOOPBACK, "site": ""}, "invalid_site"),
        ({"url": LOOPBACK, "event_types": "job.failed"}, "invalid_event_types"),
        ({"url": LOOPBACK, "event_types": [1]}, "invalid_event_types"),
        ({"url": LOOPBACK, "event_types": ["job.failed"] * 17}, "invalid_event_types"),
        ({"url": LOOPBACK, "event_types": ["job.exploded"]}, "unknown_event_type"),
        ({"url": "ftp://127.0.0.1/x"}, "webhook_url_refused"),
        ({"url": "http://127.0.0.1:9/ho\tok"}, "webhook_url_refused"),  # the schema allows no tab, CR or LF either
    ],
)
def test_bad_subscriptions_are_400_problems_and_nothing_is_stored(doc, reason):
    service = webhook_service()
    problem(*create(service, doc), reason)
    assert service.store.list_subscriptions() == []


def test_a_subscription_for_all_sites_or_one_site_is_stored_as_given():
    service = webhook_service()
    status, doc = create(service, {"url": LOOPBACK, "site": "*", "event_types": []})
    assert (
        status == 201 and doc["site"] == "*" and doc["event_types"] == ["job.failed", "job.rejected", "job.succeeded"]
    )
    status, doc = create(service, {"url": LOOPBACK, "site": "north-yard", "event_types": ["job.failed"]})
    assert status == 201 and service.store.get_subscription(doc["id"]).site == "north-yard"


@pytest.mark.parametrize("action", ["delete", "rotate", "failed"])
def test_an_unknown_subscription_is_404_and_a_malformed_id_400(action):
    service = webhook_service()
    problem(*webhooks_api.handle(service, action, {"id": "sub_" + "0" * 32}, b"").pair(), "not_found")
    for bad in ("x", "sub_" + "0" * 31 + "'", "sub_" + "0" * 10_000, "sub_" + "0" * 32 + "\n"):
        problem(*webhooks_api.handle(service, action, {"id": bad}, b"").pair(), "bad_subscription_id")


def test_failed_deliveries_of_a_known_subscription_and_replay_ids():
    service = webhook_service()
    _, created = create(service, {"url": LOOPBACK})
    listed = webhooks_api.handle(service, "failed", {"id": created["id"]}, b"").pair()
    assert listed == (200, {"items": [], "continuation": None})
    replay = {"id": created["id"], "event_id": "evt_" + JOB_ID + "_succeeded"}
    problem(*webhooks_api.handle(service, "replay", replay, b"").pair(), "not_found")
    problem(*webhooks_api.handle(service, "replay", {**replay, "event_id": "a/b"}, b"").pair(), "bad_event_id")
    problem(*webhooks_api.handle(service, "replay", {**replay, "event_id": "e" * 129}, b"").pair(), "bad_event_id")
