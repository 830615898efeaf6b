"""The health report and the problem documents every API error becomes."""

from __future__ import annotations

import json

import pytest

from shared import health, problems
from shared.config import ConfigError
from shared.errors import Conflict, InvalidInput, NotFound, PermanentError, SitelensError, TransientError


def test_health_is_ok_only_when_every_check_answers():
    ok = health.report({"storage": lambda: None, "batch": lambda: {"nodes": 0}})
    assert (ok.status, ok.http_status) == ("ok", 200) and ok.checks["batch"]["detail"] == {"nodes": 0}


def test_anonymous_callers_get_the_status_only_and_keyed_callers_the_dependencies():
    ok = health.report({"storage": lambda: None, "batch": lambda: {"pool": "sitelens-gpu", "nodes": 3}})
    assert ok.summary() == {"status": "ok"}
    details = ok.details()
    assert details["checks"]["batch"]["detail"] == {"pool": "sitelens-gpu", "nodes": 3}  # type: ignore[index]
    assert {"status", "version", "checks"} <= details.keys()

    def batch() -> object:
        raise TimeoutError

    down = health.report({"storage": lambda: None, "batch": batch})
    assert (down.summary(), down.http_status) == ({"status": "degraded"}, 503)


def test_refused_settings_make_health_misconfigured_with_their_reason_not_an_exception():
    def build() -> dict[str, health.Check]:
        raise ConfigError("SITELENS_WEBHOOKS_ALLOW_LOOPBACK ...", reason="webhooks_allow_loopback_refused")

    report = health.assess(build)
    assert report.http_status == 503
    assert report.summary() == {"status": "misconfigured", "reason": "webhooks_allow_loopback_refused"}
    assert "SITELENS_WEBHOOKS_ALLOW_LOOPBACK" in str(report.details()["detail"])
    assert health.assess(lambda: {"storage": lambda: None}).summary() == {"status": "ok"}


def test_a_recent_report_is_reused_until_it_is_older_than_its_age_then_checked_again():
    calls: list[str] = []
    now = [100.0]

    def storage() -> object:
        calls.append("storage")
        if len(calls) > 1:
            raise RuntimeError("down")
        return None

    recent = health.Recent(lambda: health.report({"storage": storage}), max_age_s=5.0, clock=lambda: now[0])
    assert [recent().status for _ in range(50)] == ["ok"] * 50 and calls == ["storage"]  # 50 calls, one check
    now[0] += 4.9
    assert recent().status == "ok" and len(calls) == 1
    now[0] += 0.1
    assert recent().status == "degraded" and len(calls) == 2  # old enough: checked again, and it went down


def test_a_round_slower_than_the_age_is_reused_by_the_callers_after_it():
    """A round that takes longer than the age (storage retrying) is dated when it ends: the callers queued behind it
    get its report, not a round each."""
    now, calls = [100.0], []

    def slow_storage() -> object:
        calls.append("storage")
        now[0] += 6.0  # longer than the 5 s the report is kept
        return None

    recent = health.Recent(lambda: health.report({"storage": slow_storage}), max_age_s=5.0, clock=lambda: now[0])
    assert [recent().status for _ in range(5)] == ["ok"] * 5 and calls == ["storage"]


def test_a_failing_check_degrades_the_report_and_names_only_its_reason():
    def batch() -> object:
        raise ConfigError("SITELENS_BATCH_URL is not set; AccountKey=secret")

    def storage() -> object:
        raise RuntimeError("AccountKey=secret in a connection string")

    report = health.report({"batch": batch, "storage": storage, "model_registry": lambda: "ocr/ppocrv4"})
    assert (report.status, report.http_status) == ("degraded", 503)
    assert report.checks["batch"] == {"ok": False, "reason": "configuration_error"}
    assert report.checks["storage"] == {"ok": False, "reason": "RuntimeError"}
    text = json.dumps(report.details())
    assert "secret" not in text and json.loads(text)["checks"]["model_registry"]["ok"]


@pytest.mark.parametrize(
    ("error", "status"),
    [(NotFound("x"), 404), (Conflict("x"), 409), (InvalidInput("x", reason="bad_query"), 400),
     (TransientError("x"), 503), (PermanentError("x", reason="service_refused"), 422), (SitelensError("x"), 500)],
)  # fmt: skip
def test_errors_become_problem_documents_with_their_reason(error, status):
    code, doc = problems.from_error(error)
    assert code == doc["status"] == status and doc["reason"] == error.reason
    assert doc["type"].endswith(f"docs/reason-codes.md#{error.reason}") and doc["detail"] == "x"
