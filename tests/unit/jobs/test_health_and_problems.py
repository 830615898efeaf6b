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


def test_a_failing_check_degrades_the_report_and_names_only_its_reason():
    def batch() -> object:
        raise ConfigError("SITELENS_BATCH_URL is not set; AccountKey=secret")

    def storage() -> object:
        raise RuntimeError("AccountKey=secret in a connection string")

    report = health.report({"batch": batch, "storage": storage, "model_registry": lambda: "ocr/ppocrv4"})
    assert (report.status, report.http_status) == ("degraded", 503)
    assert report.checks["batch"] == {"ok": False, "reason": "configuration_error"}
    assert report.checks["storage"] == {"ok": False, "reason": "RuntimeError"}
    assert "secret" not in report.to_json() and json.loads(report.to_json())["checks"]["model_registry"]["ok"]


@pytest.mark.parametrize(
    ("error", "status"),
    [(NotFound("x"), 404), (Conflict("x"), 409), (InvalidInput("x", reason="bad_query"), 400),
     (TransientError("x"), 503), (PermanentError("x", reason="service_refused"), 422), (SitelensError("x"), 500)],
)  # fmt: skip
def test_errors_become_problem_documents_with_their_reason(error, status):
    code, doc = problems.from_error(error)
    assert code == doc["status"] == status and doc["reason"] == error.reason
    assert doc["type"].endswith(f"docs/reason-codes.md#{error.reason}") and doc["detail"] == "x"
