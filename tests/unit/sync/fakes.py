"""The sync agent's rig for unit tests: a scripted upload and status API, a manual clock, a real journal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sitelens.sync_agent import Agent, LookupRefused, SyncSettings
from sitelens.sync_journal import Journal
from sitelens.upload import Outcome


def jpeg(body: bytes) -> bytes:
    """A JPEG as the agent sees one: its start, and its end-of-image marker last (until then it is still coming)."""
    return b"\xff\xd8\xff\xe0" + body + b"\xff\xd9"


JPEG = jpeg(bytes(1000))


class Clock:
    """The agent's monotonic clock, moved by hand; `wall` is a journal's clock that moves with it, as the machine's
    does (the journal keeps when a job the API does not know is next asked after on it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.now)


class Service:
    """Uploads answer from a script (default: uploaded); jobs answer from `jobs` (absent: 404)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.script: list[Outcome] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.down = False
        self.busy: float | None = None

    def upload(self, path: Path) -> Outcome:
        self.sent.append(path.name)
        if self.script:
            return self.script.pop(0)
        return Outcome(str(path), "uploaded", f"s/d/{path.name}", f"j_{path.stem}")

    def job(self, job_id: str) -> dict[str, Any] | None:
        if self.down:
            raise ConnectionError("refused")
        if self.busy is not None:  # answered 429 with this Retry-After
            raise LookupRefused(f"GET /jobs/{job_id}: HTTP 429 too_many_requests", self.busy)
        return self.jobs.get(job_id)


def make_rig(tmp_path: Path) -> tuple[Agent, Service, Clock, Path]:
    folder = tmp_path / "drop"
    folder.mkdir()
    service, clock = Service(), Clock()
    settings = SyncSettings(folder, settle_s=5.0, backoff_base_s=2.0, backoff_cap_s=30.0, move_done=tmp_path / "done")
    journal = Journal(tmp_path / "state" / "journal.sqlite3", now=clock.wall)
    agent = Agent(settings, journal, service.upload, service.job, tmp_path / "state" / "status.json", clock=clock,
                  jitter=lambda: 1.0)  # fmt: skip
    return agent, service, clock, folder


def status(agent: Agent) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(agent.status_path.read_text())
    return doc
