"""The Azure job store's module docstring counts the kinds of entity it keeps in `jobs` and lists each in a
table: the count must be the table's, so a new kind added to one is added to the other."""

from __future__ import annotations

import re

from shared.adapters import azure_job_store

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}


def test_the_count_of_entity_kinds_is_the_tables() -> None:
    doc = azure_job_store.__doc__ or ""
    counted = re.search(r"`jobs`, (\w+) kinds of entity", doc)
    assert counted is not None, "the first line names how many kinds of entity `jobs` holds"
    rows = [line for line in doc.splitlines() if line.startswith("| ") and not line.startswith("| entity |")]
    assert rows, "the docstring lists the entities in a table"
    assert NUMBERS[counted.group(1)] == len(rows)
