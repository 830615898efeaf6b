"""A stack removes only the stack.json it wrote itself: a failed start in a folder whose stack runs leaves
that stack's file, which the other tools (upload, jobs, the dashboard, trace) find it by."""

from __future__ import annotations

import json
from pathlib import Path

from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[3]


def test_a_stack_that_never_wrote_stack_json_leaves_the_one_there(tmp_path: Path) -> None:
    running = tmp_path / "stack.json"
    running.write_text(json.dumps({"pids": {"azurite": 1}}))  # another stack of this folder, still running
    Stack(REPO, tmp_path).stop()  # as a failed start does
    assert json.loads(running.read_text()) == {"pids": {"azurite": 1}}
