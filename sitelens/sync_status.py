"""The sync agent's status file: one JSON document a device's monitoring reads (see docs/field.md).

It is replaced atomically (written beside, flushed to disk, then renamed over the old one), so a reader
never sees half a document, even across a power cut.
"""

from __future__ import annotations

import json
import os
import tempfile
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
    settling: list[dict[str, Any]] = field(default_factory=list)  # files still being written: path, size
    uploaded: int = 0  # committed and not yet answered by the status API
    confirmed: int = 0  # the API answers their jobs (not terminal yet)
    finished: int = 0  # their jobs are terminal
    duplicates: int = 0  # finished jobs the service completed from an earlier photo with the same bytes
    failed: int = 0  # refused for good (the reason is in the journal and the log)
    gone: int = 0  # deleted before they were uploaded
    backoff_until: str | None = None
    last_error: LastError | None = None

    def write(self, path: Path) -> None:
        self.updated_at = utc_now()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".status-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(asdict(self), handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            Path(temp).replace(path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def read(path: Path) -> dict[str, Any] | None:
    """The status document, or None while there is none yet (for monitoring scripts and tests)."""
    try:
        doc = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
