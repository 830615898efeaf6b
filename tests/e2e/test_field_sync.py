"""The field tools on the whole local pipeline: `sitelens sync --once` sends the same photo under two names,
and reports the second as a duplicate once the pipeline has completed it from the first one's result;
`sitelens jobs list|get|watch|open` read those jobs back through the status API."""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from sitelens import cli, jobs_command, sync_status
from sitelens.field_photos import render
from sitelens.sync_journal import CONFIRMED, FINISHED, UPLOADED, Journal
from tests.e2e.conftest import Pipeline
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def sync_once(folder: Path, site: str) -> dict[str, Any]:
    assert cli.main(["sync", str(folder), "--site", site, "--device", "cam-9", "--once", "--settle", "0.2"]) == 0
    return sync_status.read(folder / ".sitelens-sync" / "status.json") or {}


def jobs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["jobs", *argv])
    return code, capsys.readouterr().out


def test_the_same_photo_under_two_names_is_sent_twice_and_the_second_reported_a_duplicate(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("SITELENS_API", pipeline.api)
    monkeypatch.setenv("SITELENS_API_KEY", pipeline.stack.keys["host"]["default"])
    site, photo = f"field-{uuid.uuid4().hex[:8]}", render(31)
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "DSC_0001.jpg").write_bytes(photo.jpeg)
    first = sync_once(folder, site)
    assert first["pending"] == 0 and first["failed"] == 0
    journal = Journal(folder / ".sitelens-sync" / "journal.sqlite3")
    [first_job] = [e.job_id for e in journal.in_state(UPLOADED, CONFIRMED, FINISHED) if e.job_id]
    journal.close()
    # The second name arrives later, as copies do: after the first photo was read in (its bytes claimed), so
    # the copy is the one that meets the claim.
    wait_for(lambda: (pipeline.status(first_job).body or {}).get("state") not in (None, "RECEIVED"), 120,
             "the first photo past ingestion")  # fmt: skip
    (folder / "DSC_0001 copy.jpg").write_bytes(photo.jpeg)
    wait_for(lambda: sync_once(folder, site)["finished"] == 2, 240, "both jobs terminal, seen by a later run")
    journal = Journal(folder / ".sitelens-sync" / "journal.sqlite3")
    entries = {Path(e.path).name: e for e in journal.in_state("finished")}
    journal.close()
    assert sorted(entries) == ["DSC_0001 copy.jpg", "DSC_0001.jpg"]
    assert entries["DSC_0001 copy.jpg"].duplicate and not entries["DSC_0001.jpg"].duplicate
    assert {e.job_state for e in entries.values()} == {"SUCCEEDED"}
    original, copy = entries["DSC_0001.jpg"].job_id, entries["DSC_0001 copy.jpg"].job_id
    assert original and copy and original != copy  # two names, two jobs: dedupe is the service's

    code, out = jobs(capsys, "list", "--site", site, "--json")
    listed = json.loads(out)
    assert code == 0 and sorted(j["id"] for j in listed) == sorted([original, copy])
    code, out = jobs(capsys, "list", "--site", site)
    assert code == 0 and out.splitlines()[-1].startswith("2 job(s) received since ")  # the last 24 h by default
    assert f"{copy}" in out and "cached" in out
    code, out = jobs(capsys, "get", copy, "--json")
    assert code == 0 and json.loads(out)["cached"] is True
    assert jobs(capsys, "watch", original) == (0, f"{original} SUCCEEDED\n")
    # Both jobs ended before this watch began: history, neither printed nor counted. With nothing in flight it
    # would wait for the next job; stopped before its first pause, it ends after one poll.
    argv = ["jobs", "watch", "--site", site]
    stopped, printed, said = threading.Event(), io.StringIO(), io.StringIO()
    stopped.set()
    assert jobs_command.run(cli.build_parser(argv).parse_args(argv), printed, said, stopped) == 0
    assert printed.getvalue() == "" and f"no job of {site} is in flight" in said.getvalue()
    overlay = tmp_path / "overlay.jpg"
    code, out = jobs(capsys, "open", original, "--out", str(overlay))
    assert code == 0 and overlay.read_bytes()[:3] == b"\xff\xd8\xff"
    summary = pipeline.status(original).body or {}
    assert out.splitlines() == [f"overlay: {overlay}", *summary["result"]["summary"]["text"]]
    assert jobs(capsys, "get", "j_" + "a" * 26)[0] == 1  # not a job: the API's 404, exit 1
