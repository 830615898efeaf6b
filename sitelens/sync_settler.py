"""Which photos in the drop folder are ready to send: listed, settled, and whole (sitelens/sync_agent.py).

A file is settled once its size and mtime have held for `settle_s` on the agent's clock. That alone misses a
transfer that pauses for longer (an FTP upload over Wi-Fi that stalls mid-file), so a settled file must also
be whole: a PNG ends with its IEND chunk, a JPEG with its end-of-image marker, unless it declares what follows
it (a phone's "motion photo" appends a video: sitelens/sync_motion.py), and then it is whole only once all of it
is there. A version found whole is not read again. A file that never becomes whole (a photo truncated for good,
an empty file) is sent anyway once it has not changed for `incomplete_s`, so that the service refuses it and it
does not wait forever; its end is then not checked again. A run with --once, too short to watch it that long, counts
by the file's mtime; an mtime ahead of the wall clock (a camera's clock set ahead, or in another time zone, writing
a FAT card) says nothing of that, so such a file's wait counts from when it was first held, kept in the journal
for the runs that follow.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from sitelens.sync_motion import jpeg_is_whole
from sitelens.upload import EXTENSIONS, MAGIC

# A truncated photo is sent after this long unchanged, to be refused: an upload that stalls for longer than ten
# minutes is not coming back, and a run with --once (restarted by a timer) counts it by the file's mtime, or from
# its first sighting (FIRST_HELD) when that mtime is ahead of the wall clock.
INCOMPLETE_S = 600.0
FIRST_HELD = "first_held"  # the journal's key (Journal.kept) for those first sightings
Version = tuple[str, int, int]  # path, size, mtime_ns
# The end each format must have. After it, a camera may pad the file with zeros or 0xFF fill bytes: skipped.
ENDS = {"jpg": b"\xff\xd9", "png": b"IEND\xaeB`\x82"}
PADDING = b"\x00\xff"
TAIL = 4096  # the last bytes read: the end marker and any padding a camera adds after it


def list_photos(folder: Path) -> dict[str, tuple[int, int]]:
    """Path → (size, mtime_ns) of the folder's photos; hidden files and other types are not ours."""
    found: dict[str, tuple[int, int]] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in EXTENSIONS:
                continue
            try:
                if entry.is_file(follow_symlinks=False):
                    stat = entry.stat(follow_symlinks=False)
                    found[entry.path] = (stat.st_size, stat.st_mtime_ns)
            except FileNotFoundError:  # deleted while listing
                continue
    return found


def is_whole(path: str) -> bool:
    """Whether the file ends as its format must: a PNG with its IEND chunk, a JPEG as `jpeg_is_whole` says.
    A file that is no JPEG or PNG at all is not waited for (the service refuses it), nor is one that cannot be
    read (the upload reports it as `unreadable`); one too short to tell what it is may still grow."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(max(len(magic) for magic, _ in MAGIC))
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL))
            tail = handle.read(TAIL)
            for magic, ext in MAGIC:
                if head.startswith(magic):
                    marked = tail.rstrip(PADDING).endswith(ENDS[ext])  # its end marker, then at most padding
                    return jpeg_is_whole(handle, size, marked) if ext == "jpg" else marked
                if magic.startswith(head):  # empty, or the signature itself half written
                    return False
    except OSError:
        return True
    return True


class Kept(Protocol):
    """Text one run leaves the next under a key: sync_journal.Journal's."""

    def kept(self, key: str) -> str | None: ...

    def keep(self, key: str, value: str) -> None: ...


class Settler:
    """Which files have stopped changing (the same size and mtime for `settle_s`, on the agent's clock) and are
    whole, or have not changed for `incomplete_s` (on the agent's clock, or on the wall clock since their mtime or,
    for an mtime ahead of it, since they were first held; those first sightings outlive the run in `kept`)."""

    def __init__(self, settle_s: float, incomplete_s: float = INCOMPLETE_S,
                 wall: Callable[[], float] = time.time, kept: Kept | None = None) -> None:  # fmt: skip
        self.settle_s, self.incomplete_s, self.wall, self.kept = settle_s, incomplete_s, wall, kept
        self.since: dict[str, tuple[int, int, float]] = {}  # path → (size, mtime_ns, first seen so)
        self.whole: set[tuple[str, int, int]] = set()  # versions found whole: their end is not read again
        self.incomplete: set[str] = set()  # settled by time, but their end is missing: held back
        self.first_held = _sightings(kept.kept(FIRST_HELD) if kept else None)  # version → wall time, mtime ahead
        self.saved = dict(self.first_held)  # as last written to `kept`

    def observe(self, files: dict[str, tuple[int, int]], now: float) -> list[tuple[str, int, int]]:
        self.since = {p: s for p, s in self.since.items() if p in files}
        self.whole = {v for v in self.whole if files.get(v[0]) == v[1:]}
        self.incomplete = set()
        settled = []
        for path, (size, mtime_ns) in sorted(files.items()):
            known = self.since.get(path)
            if known is None or known[:2] != (size, mtime_ns):
                self.since[path] = (size, mtime_ns, now)
            elif now - known[2] >= self.settle_s:
                # Given up first: a file past its bound is sent without reading it again, whatever it holds.
                if self._given_up((path, size, mtime_ns), now - known[2]) or self._whole(path, size, mtime_ns):
                    settled.append((path, size, mtime_ns))
                else:
                    self._hold((path, size, mtime_ns))
        self._keep_sightings(files)
        return settled

    def unsettled(self, settled: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
        done = {p for p, _, _ in settled}
        return [{"path": p, "size": s[0], **({"incomplete": True} if p in self.incomplete else {})}
                for p, s in sorted(self.since.items()) if p not in done]  # fmt: skip

    def _whole(self, path: str, size: int, mtime_ns: int) -> bool:
        if (path, size, mtime_ns) in self.whole:
            return True
        if not is_whole(path):
            return False
        self.whole.add((path, size, mtime_ns))
        return True

    def _given_up(self, version: Version, watched_s: float) -> bool:
        """Unchanged for `incomplete_s`: as watched, or on the wall clock since its mtime or its first sighting."""
        unchanged_since = min(version[2] / 1e9, self.first_held.get(version, math.inf))
        return watched_s >= self.incomplete_s or self.wall() - unchanged_since >= self.incomplete_s

    def _hold(self, version: Version) -> None:
        """Held back as incomplete. An mtime ahead of the wall clock cannot say how long the file has waited: its
        first sighting does, never later than now (a time kept before the clock was set back would wait again)."""
        self.incomplete.add(version[0])
        wall = self.wall()
        if version[2] / 1e9 > wall or version in self.first_held:
            self.first_held[version] = min(self.first_held.get(version, wall), wall)

    def _keep_sightings(self, files: dict[str, tuple[int, int]]) -> None:
        """Forget the versions no longer listed; keep the rest for the next run, written only when they change. An
        empty listing forgets nothing: a card out, or a share not mounted, lists nothing, and its files come back."""
        if files:
            self.first_held = {v: t for v, t in self.first_held.items() if files.get(v[0]) == v[1:]}
        if self.kept is not None and self.first_held != self.saved:
            self.kept.keep(FIRST_HELD, json.dumps([[*version, at] for version, at in self.first_held.items()]))
            self.saved = dict(self.first_held)


def _sightings(text: str | None) -> dict[Version, float]:
    """First sightings as `_keep_sightings` wrote them; none from text that is not that (a journal's damage)."""
    try:
        rows = json.loads(text or "[]")
        return {(str(path), int(size), int(mtime_ns)): float(at) for path, size, mtime_ns, at in rows}
    except (TypeError, ValueError):
        return {}
