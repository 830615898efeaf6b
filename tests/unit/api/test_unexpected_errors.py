"""An HTTP function that fails outside the error tree still answers a problem document: in Azure the host
would answer an exception that leaves a function with an empty 500, no reason and no document."""

from __future__ import annotations

import json
import logging

import azure.functions as func
import pytest

from emulators.functions_host.index import index_app, load_app
from shared import composition
from tests.unit.api.fakes import JOB_ID, PROBLEM_MEMBERS, REPO

FUNCTIONS = {spec.name: spec.user_function for spec in index_app(load_app(REPO))}
SECRET = "AccountKey=c2VjcmV0"


def test_a_bug_is_answered_500_internal_error_logged_with_its_trace_and_kept_out_of_the_reply(monkeypatch, caplog):
    def broken() -> None:
        raise ValueError(f"cannot convert float NaN to integer ({SECRET})")

    monkeypatch.setattr(composition, "unavailable", lambda: None)
    monkeypatch.setattr(composition, "jobs_api", broken)
    request = func.HttpRequest("GET", f"http://localhost/api/jobs/{JOB_ID}", route_params={"id": JOB_ID}, body=b"")
    with caplog.at_level(logging.ERROR):
        response = FUNCTIONS["get_job"](request)
    assert response.status_code == 500 and response.mimetype == "application/problem+json"
    doc = json.loads(response.get_body())
    assert set(doc) == PROBLEM_MEMBERS and doc["status"] == 500 and doc["reason"] == "internal_error"
    assert doc["type"].endswith("#internal_error") and SECRET not in doc["detail"]
    [logged] = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
    assert logged.levelno == logging.ERROR


@pytest.mark.parametrize("function", ["get_site_summary", "request_upload"])
def test_every_function_that_goes_through_the_one_handler_answers_so(monkeypatch, function):
    def broken() -> None:
        raise KeyError("settings")

    monkeypatch.setattr(composition, "unavailable", broken)
    request = func.HttpRequest("GET", "http://localhost/api/x", route_params={"site": "north-yard"}, body=b"{}")
    response = FUNCTIONS[function](request)
    assert response.status_code == 500 and json.loads(response.get_body())["reason"] == "internal_error"
