"""`infra/deploy.sh --help` prints the script's whole header comment, no more and no less: its usage() prints a
fixed line range, which must follow the header whenever the header grows or shrinks."""

from __future__ import annotations

import subprocess

from tests.unit.infra import bicep

DEPLOY = bicep.INFRA / "deploy.sh"


def header_comment() -> list[str]:
    """The comment lines after the shebang, up to the first line that is not a comment, without their `# `."""
    lines = DEPLOY.read_text().splitlines()[1:]
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line.removeprefix("#").removeprefix(" "))
    return header


def test_help_prints_the_whole_header_comment() -> None:
    shown = subprocess.run(["bash", str(DEPLOY), "--help"], check=False, capture_output=True, text=True, timeout=30)
    assert shown.returncode == 2
    assert shown.stderr.splitlines() == header_comment()
