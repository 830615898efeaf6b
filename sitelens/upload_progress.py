"""How far `sitelens upload` got with a photo: its blocks, which of them the service already holds, the pace
they leave at (`--bandwidth`), and the bar.

Resume: a device's SAS may create and write its blob but not read it, so the client cannot call Get Block
List itself. The upload API can, with the app's own identity: a repeated `POST /api/uploads` for a blob
that is not committed yet lists its uncommitted blocks (`staged_blocks`, id and size, straight from the
SDK's `get_block_list("uncommitted")`). Block ids are deterministic (the block's index and a hash of its
bytes), so a listed id of the right size is that very block and is not sent again. If the service drops
them before the commit (uncommitted blocks expire after a week), the commit fails with `InvalidBlockList`
and the client stages everything once more.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

MIB = 1024 * 1024


@dataclass(frozen=True)
class Block:
    index: int
    id: str  # f"{index:06d}-{32 hex of sha256(bytes)}": all ids of a blob have one length (the service requires it)
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def plan_blocks(data: bytes, block_size: int) -> list[Block]:
    """The blocks of `data`; ids are plain text (the SDK base64-encodes them on the wire and decodes them back).

    An empty file has no blocks: committing the empty list makes an empty blob, without a zero-length Put Block.
    """
    blocks = []
    for index, start in enumerate(range(0, len(data), block_size)):
        end = min(start + block_size, len(data))
        digest = hashlib.sha256(data[start:end]).hexdigest()[:32]
        blocks.append(Block(index, f"{index:06d}-{digest}", start, end))
    return blocks


def staged_blocks(grant: Mapping[str, Any]) -> dict[str, int]:
    """Block id → size, from an upload grant's `staged_blocks`; anything malformed counts as not staged."""
    staged: dict[str, int] = {}
    listed = grant.get("staged_blocks")
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and isinstance(entry.get("size"), int):
            staged[entry["id"]] = entry["size"]
    return staged


class Progress:
    """A one-line bar on stderr, redrawn at most ten times a second; silent unless stderr is a terminal."""

    WIDTH = 28

    def __init__(self, stream: TextIO, enabled: bool | None = None) -> None:
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.label, self.total, self.done, self._drawn = "", 0, 0, 0.0

    def start(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self._drawn = label, total, 0, 0.0
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done = min(self.total, self.done + n)
        self._draw(force=self.done >= self.total)

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        share = self.done / self.total if self.total else 1.0
        filled = int(share * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(
            f"\r{self.label[:40]:<40} [{bar}] {share:4.0%} {self.done / MIB:.1f}/{self.total / MIB:.1f} MiB"
        )
        self.stream.flush()


class Throttle:
    """A bandwidth cap: before each block, wait until the bytes sent so far fit the rate (a link shared with others).

    Blocks are sent whole, so the cap holds on average over a few blocks; a smaller block size smooths it.
    """

    def __init__(self, bytes_per_s: float, sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic):
        self.rate, self.sleep, self.clock = bytes_per_s, sleep, clock
        self.start: float | None = None
        self.sent = 0

    def take(self, n: int) -> None:
        now = self.clock()
        if self.start is None:
            self.start = now
        due = self.start + self.sent / self.rate  # when the bytes already sent would have been sent at the cap
        if due > now:
            self.sleep(due - now)
        elif now - due > 1.0:  # idle a while (between photos, or the link was down): no burst for the idle time
            self.start, self.sent = now, 0
        self.sent += n
