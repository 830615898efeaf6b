"""The sync agent's status file: one JSON document a device's monitoring reads (see docs/field.md).

It is replaced atomically (written beside, flushed to disk, then renamed over the old one), so a reader
never sees half a document, even across a power cut. It is created as any ordinary file is (0666 less the
umask: 0644 under the usual 022), so a monitoring agent running as another user can read it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class LastError:
    reason: str  # the upload's reason code (docs/uploads.md), e.g. `unreachable`, `storage_503`, `http_401`
    detail: str
    at: str
    path: str | None = None


@dataclass
class Status:
    folder: str
    state: str = "starting"  # starting | running | uploading | backing_off | stopped
    pid: int = field(default_factory=os.getpid)
    updated_at: str = field(default_factory=utc_now)
    last_success_at: str | None = None  # the last upload the service took (committed, or already there)
    pending: int = 0  # file versions seen and settled but not uploaded yet
    unreadable: int = 0  # of those, the ones the agent could not read at its last try (tried again every minute)
    settling: list[dict[str, Any]] = field(default_factory=list)  # files still being written: path, size
    # (and `incomplete`: true for those that have stopped changing, but whose end is missing: sync_settler.py)
    uploaded: int = 0  # committed and not yet answered by the status API
    confirmed: int = 0  # the API answers their jobs (not terminal yet)
    finished: int = 0  # their jobs are terminal
    duplicates: int = 0  # finished jobs the service completed from an earlier photo with the same bytes
    failed: int = 0  # refused for good (the reason is in the journal and the log)
    gone: int = 0  # deleted before they were uploaded
    unknown: int = 0  # uploaded, but the API has not known their jobs for 8 days (erased, expired): not asked again
    backoff_until: str | None = None
    last_error: LastError | None = None

    def count(self, counts: Mapping[str, int]) -> None:
        """Take the journal's counts (`Journal.counts`: per state, and `duplicates`), each into its namesake."""
        for name in ("pending", "uploaded", "confirmed", "finished", "duplicates", "failed", "gone", "unknown"):
            setattr(self, name, counts.get(name, 0))

    def write(self, path: Path) -> None:
        self.updated_at = utc_now()
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".status-{uuid.uuid4().hex}.json"
        # Not mkstemp: its 0600 would follow the rename, and monitoring reads the file as another user.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(asdict(self), handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            temp.replace(path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


def read(path: Path) -> dict[str, Any] | None:
    """The status document, or None while there is none yet (for monitoring scripts and tests)."""
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
