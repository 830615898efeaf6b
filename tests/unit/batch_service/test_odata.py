"""$filter, $select and paging as Batch lists take them."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.batch_service.odata import page_bounds, predicate, select
from emulators.batch_service.wire import BatchError

TASKS: list[dict[str, Any]] = [
    {"id": "a1", "state": "completed", "requiredSlots": 1, "executionInfo": {"result": "success", "exitCode": 0}},
    {"id": "a2", "state": "completed", "requiredSlots": 2, "executionInfo": {"result": "failure", "exitCode": 3}},
    {"id": "b1", "state": "active", "requiredSlots": 1, "executionInfo": {}},
    {"id": "b2", "state": "running", "requiredSlots": 4, "executionInfo": {}, "_attempt": "x"},
]


def ids(text: str) -> list[str]:
    keep = predicate(text)
    return [t["id"] for t in TASKS if keep(t)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state eq 'completed'", ["a1", "a2"]),
        ("executionInfo/result eq 'failure'", ["a2"]),
        ("state eq 'completed' and executionInfo/result eq 'success'", ["a1"]),
        ("state eq 'active' or state eq 'running'", ["b1", "b2"]),
        ("(state eq 'active' or state eq 'running') and requiredSlots gt 1", ["b2"]),
        ("not (state eq 'completed')", ["b1", "b2"]),
        ("state ne 'completed'", ["b1", "b2"]),
        ("executionInfo/exitCode ge 1", ["a2"]),
        ("startswith(id, 'b')", ["b1", "b2"]),
        ("", ["a1", "a2", "b1", "b2"]),
    ],
)
def test_filters(text, expected):
    assert ids(text) == expected


@pytest.mark.parametrize("text", ["state eq", "state like 'x'", "state eq 'a' and", "(state eq 'a'", "state eq 'a' )"])
def test_a_filter_it_cannot_read_is_invalid_query_parameter_value(text):
    with pytest.raises(BatchError) as e:
        predicate(text)
    assert (e.value.code, e.value.status, e.value.values["QueryParameterName"]) == (
        "InvalidQueryParameterValue", 400, "$filter",
    )  # fmt: skip


def test_select_keeps_what_is_asked_and_never_internal_fields():
    assert select(TASKS[3], "id, state") == {"id": "b2", "state": "running"}
    assert "_attempt" not in select(TASKS[3], None)


def test_pages_are_at_most_1000():
    assert page_bounds({}) == (0, 1000)
    assert page_bounds({"maxresults": "10", "$skiptoken": "20"}) == (20, 10)
    with pytest.raises(BatchError):
        page_bounds({"maxresults": "5000"})
