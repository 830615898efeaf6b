"""A stack whose start fails stops what it had started, whatever the failure: a child that did not come up, the
default model missing (an error of no child), or Ctrl-C. Nothing is left running detached from the command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batch_tasks.models.manifest import ManifestError
from emulators.azurite import Azurite
from emulators.child_process import ChildFailed
from sitelens import local_settings
from sitelens import stack as stack_module
from sitelens.stack import Stack

REPO = Path(__file__).resolve().parents[3]


class Child:
    """A started child of the stack: Azurite or the Batch service."""

    pid = 4242
    endpoint, account, account_name, account_key = "http://127.0.0.1:1", "a", "a", "k"
    connection_string = "UseDevelopmentStorage=true"

    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def alive(self) -> bool:
        return not self.stopped


@pytest.mark.parametrize(
    "failure",
    [ChildFailed("the Functions host", "exited with code 1"), ManifestError("manifest.json not found"),
     KeyboardInterrupt()],
    ids=["child failed", "model missing", "interrupted"],
)  # fmt: skip
def test_a_start_that_fails_stops_the_children_already_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    azurite, batch = Child(), Child()
    monkeypatch.setattr(local_settings, "ensure", lambda _repo: {"Keys": {}})
    monkeypatch.setattr(Azurite, "start", lambda *_a, **_k: azurite)
    monkeypatch.setattr(stack_module, "ensure_storage", lambda _connection: None)
    monkeypatch.setattr(Stack, "_start_batch", lambda self, _log: setattr(self, "batch", batch))

    def plan(_folder: Path) -> Any:  # the step after Azurite and the Batch service are up
        raise failure

    monkeypatch.setattr(stack_module, "plan", plan)
    with pytest.raises(type(failure)):
        Stack(REPO, tmp_path).start()
    assert azurite.stopped and batch.stopped
    assert not (tmp_path / "stack.json").exists()
