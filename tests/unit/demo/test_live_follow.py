"""The demo's live view stops following the jobs as soon as a child of the stack has exited: with it gone no
job moves again, and waiting out the 15-minute deadline would only hide what happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sitelens import demo_view
from sitelens.demo_view import Item, Live


class StubStack:
    batch = None  # no pool to poll

    def __init__(self, dead: str | None) -> None:
        self.dead = dead

    def dead_child(self) -> str | None:
        return self.dead


class ScriptedApi:
    """The status API's site list: one answer per refresh, and a failure if asked more often than scripted."""

    def __init__(self, *answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)

    def site_jobs(self, _site: str) -> list[dict[str, Any]]:
        assert self.answers, "follow() polled again after it should have stopped"
        return self.answers.pop(0)


@pytest.fixture(autouse=True)
def no_refresh_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_view, "REFRESH_S", 0.0)


def photo(job_id: str) -> Item:
    return Item(Path(f"{job_id}.jpg"), "photo", job_id=job_id)


def test_follow_returns_at_once_naming_the_child_that_exited(capsys: pytest.CaptureFixture[str]) -> None:
    items = [photo("j1")]
    live = Live(StubStack(dead="functions host"), items, ScriptedApi([]), "site")  # type: ignore[arg-type]
    assert live.follow(deadline_s=900) == "functions host"
    assert items[0].state == "waiting for the trigger"
    assert "not every job was terminal" not in capsys.readouterr().out  # not a deadline: a dead child


def test_follow_runs_until_every_job_is_terminal_while_the_children_live() -> None:
    items = [photo("j1")]
    api = ScriptedApi([{"id": "j1", "state": "RUNNING"}], [{"id": "j1", "state": "SUCCEEDED"}])
    live = Live(StubStack(dead=None), items, api, "site")  # type: ignore[arg-type]
    assert live.follow(deadline_s=900) is None
    assert items[0].state == "SUCCEEDED" and not api.answers
