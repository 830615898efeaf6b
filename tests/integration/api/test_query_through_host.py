"""The status API's query as the client sent it, whatever the Functions host made of it: the host drops a
parameter left without a value, but the app reads the query from the URL, so an empty filter is still a bad
value (never "no filter"); a repeated one is joined with ",", as the host joins it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import TableJobStore
from shared.jobs import ids
from shared.jobs.models import Job
from tests.integration.api.conftest import KEY, AppHost

pytestmark = pytest.mark.integration


def get(app_host: AppHost, path: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{app_host.host.url}/api{path}", headers={"x-functions-key": KEY})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_an_empty_filter_is_refused_as_the_client_sent_it_and_a_repeated_parameter_is_joined(app_host: AppHost) -> None:
    site = f"q{app_host.unique}"
    store = TableJobStore(TableServiceClient.from_connection_string(app_host.connection), prefix=f"t{app_host.unique}")
    name = f"{site}/cam1/2026/11/22/IMG_1.jpg"
    received = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    store.create(Job(ids.job_id_for(name), site, "cam1", "IMG_1", name, '"0x1"', received))
    status, page = get(app_host, f"/jobs?site={site}")
    assert status == 200 and [j["photo_id"] for j in page["jobs"]] == ["IMG_1"]
    for empty in ("state=", "limit=", "since=", "continuation="):
        status, problem = get(app_host, f"/jobs?site={site}&{empty}")
        assert (status, problem["reason"]) == (400, "bad_query"), empty
    status, problem = get(app_host, f"/jobs?site={site}&site={site}")
    assert (status, problem["reason"]) == (400, "invalid_site")  # the app is asked for site "q…,q…"


def test_since_is_read_as_sent_before_the_year_1000_and_an_unencoded_plus_is_named(app_host: AppHost) -> None:
    """A year below 1000 bounds the listing as any other (the index's keys pad the year); an offset whose '+' was
    sent unencoded arrives with a space in its place and is refused with what to do about it."""
    site = f"y{app_host.unique}"
    store = TableJobStore(TableServiceClient.from_connection_string(app_host.connection), prefix=f"t{app_host.unique}")
    name = f"{site}/cam1/2026/11/22/IMG_1.jpg"
    store.create(Job(ids.job_id_for(name), site, "cam1", "IMG_1", name, '"0x1"', datetime(2026, 11, 22, 8, tzinfo=UTC)))
    for since in ("0026-11-22T08:00:00Z", "0999-12-31T23:59:59Z", "2026-11-22T09:00:00%2B01:00"):
        status, page = get(app_host, f"/jobs?site={site}&since={since}")
        assert (status, [j["photo_id"] for j in page["jobs"]]) == (200, ["IMG_1"]), since
    status, problem = get(app_host, f"/jobs?site={site}&since=2026-11-22T09:00:00+01:00")
    assert (status, problem["reason"]) == (400, "bad_query") and "sent as %2B" in problem["detail"]
    status, problem = get(app_host, f"/jobs?site={site}&since=2026-11-22T09:00:00")  # no offset: nothing to name
    assert (status, problem["reason"]) == (400, "bad_query") and "%2B" not in problem["detail"]
