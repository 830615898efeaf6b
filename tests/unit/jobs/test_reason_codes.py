"""One documented list: every reason code the code can produce is in docs/reason-codes.md."""

from __future__ import annotations

import re
from pathlib import Path

from emulators.functions_host.http_server import HOST_REASONS
from shared.jobs.completion import NODE_ERRORS
from shared.validation import Reason

REPO = Path(__file__).resolve().parents[3]
LITERAL = re.compile(r"""reason\s*=\s*["']([a-z_]+)["']""")
CLIENT = re.compile(r"""UploadFailed\(\s*["']([a-z_]+)["']""")  # sitelens upload's failure codes


def produced() -> set[str]:
    codes = {r.value for r in Reason}
    for path in (REPO / "shared").rglob("*.py"):
        codes |= set(LITERAL.findall(path.read_text()))
    for path in (REPO / "sitelens").glob("upload*.py"):
        codes |= set(CLIENT.findall(path.read_text()))
    codes |= {f"invalid_{f}" for f in ("site_id", "device_id", "photo_id")}  # built as invalid_{field}
    codes |= set(HOST_REASONS.values())  # the local Functions host's own problem documents
    codes |= set(NODE_ERRORS.values())  # a node's final error, as the job's reason (a mapping, not a literal)
    return codes


def test_every_reason_code_is_documented():
    documented = set(re.findall(r"`([a-z_]+)`", (REPO / "docs" / "reason-codes.md").read_text()))
    missing = produced() - documented
    assert not missing, f"add to docs/reason-codes.md: {sorted(missing)}"
