"""A traceparent from outside (blob metadata a device wrote, a task's environment) is a hint, taken only when
it is exactly W3C version 00; anything else starts a new trace and decides nothing."""

from __future__ import annotations

import pytest

from batch_tasks.telemetry import context_of, link_to, parse_traceparent

VALID = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_a_well_formed_traceparent_is_taken_and_names_its_parent() -> None:
    assert parse_traceparent(VALID) == VALID
    assert context_of(VALID) is not None
    link = link_to(VALID)
    assert link is not None and format(link.context.span_id, "016x") == "b7ad6b7169203331"


@pytest.mark.parametrize(
    "value",
    [
        None, 7, "", VALID.upper(), VALID + "-extra", VALID + "\n", " " + VALID,
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # a version this reader does not know
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero span id
        "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",  # short
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",  # not hex
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
        "x" * 10_000,
    ],
)  # fmt: skip
def test_anything_else_is_dropped(value: object) -> None:
    assert parse_traceparent(value) is None
    assert context_of(value if isinstance(value, str) else None) is None
