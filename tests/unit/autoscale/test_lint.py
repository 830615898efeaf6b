"""Findings: what Azure accepts but is probably a mistake, reported by `check` with a position."""

from __future__ import annotations

from autoscale import Formula


def findings(text: str) -> list[str]:
    return [str(f) for f in Formula.parse(text).warnings]


def test_a_clean_formula_has_no_findings():
    text = "x = $CurrentDedicatedNodes + 1;\n$TargetDedicated = x;\n$NodeDeallocationOption = taskcompletion;"
    assert findings(text) == []


def test_a_bare_expression_is_reported():
    assert findings("x = 1;\nx == 2;") == ["Line 2, Col 1: This statement's value is kept nowhere; use 'name = …'"]


def test_a_service_name_in_the_wrong_case_is_reported_where_it_appears():
    assert findings("$targetDedicatedNodes = 2;\ny = $pendingtasks;") == [
        "Line 1, Col 1: '$targetDedicatedNodes' is a user variable; the service-defined name is spelled "
        "'$TargetDedicatedNodes'",
        "Line 2, Col 5: '$pendingtasks' is a user variable; the service-defined name is spelled '$PendingTasks'",
    ]


def test_a_name_read_before_it_is_assigned_is_reported_even_in_an_unselected_branch():
    assert findings("a = 1 ? 2 : later;\nlater = 3;\nb = later;") == [
        "Line 1, Col 13: 'later' is read before any statement assigns it"
    ]
