"""openapi.json against the real app on the local host, checked by schemathesis (its engine, as its CLI runs it).

Every phase the CLI runs by default (the schema's examples, the coverage phase with its negative and
wrong-method requests, fuzzing, stateful links) and every default check, response-schema conformance
among them; any finding fails the test with schemathesis' own description of it. Requests carry a
function key, so a 401 here is a finding too. Two settings differ from the defaults, each for a reason
stated where it is set: the wrong methods tried leave out TRACE and QUERY, and /health may answer 503.

Loopback only: the stack has no photos, so no event is ever published and no subscription receives
anything; every subscription `url` the schema allows is still replaced by a loopback address on a closed
port before it is sent, so that no name is resolved and nothing is subscribed elsewhere.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, events
from schemathesis.generation import GenerationMode

from shared.http_reply import METHODS
from shared.request_body import CONTROL
from shared.webhooks.endpoint import LINE_BREAKS
from shared.webhooks.models import MAX_URL_CHARS
from tests.integration.api.conftest import KEY, AppHost
from tests.support.stack import HostProcess

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
EXAMPLES_PER_OPERATION = 30
# schemathesis' default wrong methods but TRACE and QUERY, which no Python function can list: the Functions
# host answers them 404 on every route before the app sees them (docs/functions-host.md, HTTP).
UNEXPECTED_METHODS = {"get", "put", "post", "delete", "options", "patch"}
SAFE_WEBHOOK_URL = "http://127.0.0.1:9/schemathesis"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def host(app_host: AppHost) -> HostProcess:
    return app_host.host


def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:  # the hook's name is its kind
    """A subscription `url` that the schema allows becomes a loopback address on a closed port, in schema-valid
    and schema-violating requests alike (the violation is then elsewhere, and the service checks the address
    before the event types), so nothing is ever resolved or sent elsewhere; a `url` the schema refuses is
    kept, since the API refuses it before reading it as an address. Schema-valid requests also carry no
    `continuation`: a token is opaque, valid only as a previous page gave it."""
    if isinstance(case.body, dict) and _allowed_url(case.body.get("url")):
        case.body = {**case.body, "url": SAFE_WEBHOOK_URL}
    positive = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
    if positive and isinstance(case.query, dict):
        case.query.pop("continuation", None)


def _allowed_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return 1 <= len(value) <= MAX_URL_CHARS and not CONTROL.search(value) and not LINE_BREAKS.search(value)


def _findings(host: HostProcess, *, health: bool) -> list[str]:
    schema: Any = schemathesis.openapi.from_path(ROOT / "openapi.json")
    schema.config.update(base_url=f"{host.url}/api", headers={"x-functions-key": KEY})
    schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION)
    schema.config.phases.coverage.unexpected_methods = UNEXPECTED_METHODS
    if health:
        # Health and the pool answer 503 by contract while a dependency is down, and this stack has no Batch
        # service or model registry: there, and only there, 503 is the expected answer, not a server error.
        schema = schema.include(path_regex="^/(health|pool)")
        schema.config.checks.not_a_server_error.expected_statuses = ["2XX", "3XX", "4XX", "503"]
    else:
        schema = schema.exclude(path_regex="^/(health|pool)")
    found: list[str] = []
    schemathesis.hook(before_call)  # a global hook (schemathesis has no per-schema before_call); removed below
    try:
        return _run(schema, found)
    finally:
        schemathesis.hooks.unregister(before_call)


def _run(schema: Any, found: list[str]) -> list[str]:
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished) and event.status in (
            Status.FAILURE,
            Status.ERROR,
        ):
            for checks in event.recorder.checks.values():
                found += [_describe(event.recorder.label, c.name, c.failure_info) for c in checks if c.failure_info]
            if not found:
                found.append(f"{event.recorder.label}: {event.status}")
        elif isinstance(event, events.NonFatalError):
            found.append(f"{event.label}: {event.info}")
        elif isinstance(event, events.FatalError):
            found.append(f"fatal: {event.exception!r}")
    return found


def _describe(label: str, check: str, info: Any) -> str:
    return f"{label}: {check}: {info.failure.title}: {info.failure.message}\n{info.code_sample}"


def test_the_running_app_does_what_openapi_json_says(host: HostProcess) -> None:
    findings = _findings(host, health=False)
    assert not findings, "\n".join(sorted(set(findings)))


def test_health_does_what_openapi_json_says_on_a_stack_without_batch(host: HostProcess) -> None:
    findings = _findings(host, health=True)
    assert not findings, "\n".join(sorted(set(findings)))


def test_a_wrong_method_is_405_with_allow_and_trace_is_the_hosts_404(host: HostProcess) -> None:
    """Every route of openapi.json, every method a Python function can list that it does not serve (a route
    with GET serves HEAD too: docs/api.md)."""
    paths = json.loads((ROOT / "openapi.json").read_text())["paths"]
    checked = 0
    for template, operations in paths.items():
        path = re.sub(r"\{[^}]+\}", "x", template)
        served = {method.upper() for method in operations if method.upper() in METHODS}
        served |= {"HEAD"} if "GET" in served else set()
        for method in set(METHODS) - served:
            status, headers, body = _request(host, method, path)
            assert status == 405, (method, path, status)
            assert headers.get("Allow") == ", ".join(sorted(served)), (method, path)
            if method != "HEAD":
                assert json.loads(body)["reason"] == "method_not_allowed"
            checked += 1
        status, _, body = _request(host, "TRACE", path)
        assert (status, json.loads(body)["reason"]) == (404, "route_not_found")
    assert checked >= 60


def _request(host: HostProcess, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"{host.url}/api{path}", method=method, headers={"x-functions-key": KEY})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()
