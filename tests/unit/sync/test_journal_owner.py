"""A journal's rows are true of one API (a deployment) and one site: a row says a photo went there, and which job to
ask that API after. So the journal records both when it is created, a journal from an earlier release takes the first
it is opened with, and `sitelens sync` refuses (exit 2) to go on with another: pointed at prod with staging's journal,
it would count every photo as sent and ask prod after staging's jobs until they ended `unknown`. The real journal."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sitelens import cli
from sitelens import sync_journal as j
from sitelens.sync_command import api_identity, owned
from tests.unit.sync.test_journal_scale import HISTORY, previous_journal

STAGING, PROD = "https://staging.example.net/api", "https://prod.example.net/api"
SITE = "north-yard"


def owner(api: str = STAGING, site: str = SITE) -> dict[str, str]:
    return {"api": api_identity(api), "site": site}


def journal_with_a_sent_photo(path: Path) -> None:
    """A journal that staging's agent left: one photo uploaded, its job still in flight."""
    journal = j.Journal(path, owner=owner())
    journal.update(journal.add("/drop/IMG_0001.jpg", 1000, 1), j.UPLOADED, job_id="j_staging_1")
    journal.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [("https://Staging.Example.NET/api/", STAGING), ("https://staging.example.net:443/api", STAGING),
     ("https://user:secret@staging.example.net/api?code=k#top", STAGING),
     ("http://127.0.0.1:80/api", "http://127.0.0.1/api"), ("http://127.0.0.1:7071/api", "http://127.0.0.1:7071/api"),
     ("http://[::1]:7071/api//", "http://[::1]:7071/api"),
     ("https://staging.example.net:8443/api", "https://staging.example.net:8443/api"),
     ("https://staging.example.net/API", "https://staging.example.net/API")],
)  # fmt: skip
def test_the_api_recorded_is_its_scheme_host_port_and_path(given: str, expected: str) -> None:
    assert api_identity(given) == expected


def test_a_restart_with_the_same_api_and_site_goes_on_without_a_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sitelens.sync")
    path = tmp_path / "journal.sqlite3"
    journal_with_a_sent_photo(path)
    again = j.Journal(path, owner=owner("https://STAGING.example.net:443/api/"))  # the same deployment, spelt otherwise
    try:
        assert again.recorded_owner == owner()
        assert owned(again, path, owner("https://STAGING.example.net:443/api/"))
        assert [e.job_id for e in again.in_state(j.UPLOADED)] == ["j_staging_1"]
    finally:
        again.close()
    assert capsys.readouterr().err == "" and caplog.records == []


@pytest.mark.parametrize(
    ("api", "site"), [(PROD, SITE), (STAGING, "south-yard"), ("http://staging.example.net/api", SITE)]
)
def test_another_api_or_site_is_refused_and_the_record_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], api: str, site: str
) -> None:
    path = tmp_path / "journal.sqlite3"
    journal_with_a_sent_photo(path)
    given = owner(api, site)
    again = j.Journal(path, owner=given)
    try:
        assert again.recorded_owner == owner()
        assert not owned(again, path, given)
    finally:
        again.close()
    err = capsys.readouterr().err
    assert str(path) in err
    assert f"api: recorded {STAGING}, given {given['api']}" in err and f"site: recorded {SITE}, given {site}" in err
    assert "--sync-state" in err and "delete this journal" in err
    reopened = j.Journal(path)
    assert reopened.recorded_owner == owner()  # the refused run recorded nothing of its own
    reopened.close()


def test_a_journal_from_an_earlier_release_takes_the_first_api_and_site_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sitelens.sync")
    path = tmp_path / "journal.sqlite3"
    previous_journal(path)  # no meta at all, and rows in every state
    journal = j.Journal(path, owner=owner())
    try:
        assert journal.recorded_owner == {} and owned(journal, path, owner())
        assert journal.counts()[j.FINISHED] == sum(state == j.FINISHED for _, state, _ in HISTORY)  # rows kept
    finally:
        journal.close()
    [warning] = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert str(path) in warning and STAGING in warning and SITE in warning
    later = j.Journal(path, owner=owner(PROD))
    try:
        assert later.recorded_owner == owner() and not owned(later, path, owner(PROD))
    finally:
        later.close()
    assert f"recorded {STAGING}, given {PROD}" in capsys.readouterr().err


def sync(folder: Path, api: str, *extra: str, device: str = "gw-1") -> int:
    # Nothing listens on these ports: the folder is empty, so a run that starts asks nothing of the API.
    return cli.main(["sync", str(folder), "--site", SITE, "--device", device, "--once", "--settle", "0.1",
                     "--api", api, "--key", "k", *extra])  # fmt: skip


def test_sitelens_sync_pointed_at_another_api_exits_2_naming_the_journal_both_apis_and_the_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, first, other = tmp_path / "drop", "http://127.0.0.1:9/api", "http://127.0.0.1:10/api"
    folder.mkdir()
    assert sync(folder, first) == 0
    assert sync(folder, "http://127.0.0.1:9/api/", device="gw-2") == 0  # the same API; another device id is fine
    status = folder / ".sitelens-sync" / "status.json"
    written = (status.stat().st_ino, status.stat().st_mtime_ns)  # replaced by a rename at every write
    capsys.readouterr()
    assert sync(folder, other) == 2
    err = capsys.readouterr().err
    assert str(folder / ".sitelens-sync" / "journal.sqlite3") in err
    assert f"api: recorded {first}, given {other}" in err and "--sync-state" in err
    assert (status.stat().st_ino, status.stat().st_mtime_ns) == written  # no pass ran
    assert sync(folder, other, "--sync-state", str(tmp_path / "prod-state")) == 0  # the remedy: a journal of its own
