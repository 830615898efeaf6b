"""`sitelens sync`'s --site and --device follow the API's id rule (shared/uploads/naming.py): one the API would refuse
for good (400 `invalid_site_id`) is a usage error before anything runs, not a link failure retried forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitelens import cli
from sitelens.cli import build_parser

NO_API = "http://127.0.0.1:9/api"  # nothing listens: a test that got past the arguments would fail to reach it


def sync_argv(folder: Path, site: str, device: str) -> list[str]:
    return ["sync", str(folder), f"--site={site}", f"--device={device}", "--once", "--api", NO_API, "--key", "k"]


@pytest.mark.parametrize(
    ("site", "device", "field"),
    [("North Yard", "gw-1", "site_id"), ("-yard", "gw-1", "site_id"), ("y" * 65, "gw-1", "site_id"),
     ("north-yard", "gw/1", "device_id"), ("north-yard", "", "device_id"), ("north-yard", "gw.1", "device_id")],
)  # fmt: skip
def test_a_site_or_device_the_api_would_refuse_is_a_usage_error_before_anything_runs(
    tmp_path: Path, site: str, device: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(sync_argv(tmp_path, site, device))
    assert exit_.value.code == 2 and f"'{field}' must be" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no journal, no status file: nothing ran


def test_ids_by_the_rule_are_taken_as_given(tmp_path: Path) -> None:
    argv = sync_argv(tmp_path, "North_Yard-2", "gw-1")
    args = build_parser(argv).parse_args(argv)
    assert (args.site, args.device) == ("North_Yard-2", "gw-1")


def test_a_key_no_header_can_carry_is_a_usage_error_that_never_shows_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agent's endpoint is `sitelens upload`'s (upload_command.resolve_endpoint): under `Restart=always` a key
    that failed in the HTTP library would be printed, with its traceback, at every restart."""
    argv = sync_argv(tmp_path, "north-yard", "gw-1")
    argv[argv.index("--key") + 1] = "sec\nret-key"
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "bad_key" in err and "ret-key" not in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before the journal was opened
