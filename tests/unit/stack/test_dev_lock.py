"""`sitelens dev`'s lock on its state dir: one holder at a time, the others learning its pid, and nothing
stale once the holder lets go (closing the file, as the operating system does for a process that dies)."""

from __future__ import annotations

import os
from pathlib import Path

from sitelens.dev_command import claim


def test_one_holder_of_the_lock_at_a_time_the_others_learn_its_pid(tmp_path: Path) -> None:
    path = tmp_path / "stack.lock"
    with path.open("a+") as first:
        assert claim(first) is None
        with path.open("a+") as second:  # another open of the file, as another process makes
            assert claim(second) == str(os.getpid())
    with path.open("a+") as third:  # closing (or dying) lets go: no stale lock
        assert claim(third) is None
        assert path.read_text() == f"{os.getpid()}\n"
