"""The blob scan's cursor never passes a blob whose receipt is leased.

Found by the chaos run: a host SIGKILLed between taking a receipt's lease and releasing it (or one whose
lease request reached storage but whose reply was lost, so its own retry met the lease) left the receipt
`Incomplete` and leased for 30 s; the next scan skipped the blob as "delivered elsewhere" and moved its
cursor past it, so the photo was never delivered and never became a job (1 of 450 photos in one run: its
receipt still `Incomplete`, the cursor 22 s past the blob). Pure: the storage and the receipts are
stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from emulators.functions_host.binding_expressions import BlobPathPattern
from emulators.functions_host.blob_trigger import CLAIMS_AT_ONCE, BlobTriggers
from emulators.functions_host.receipts import ReceiptBusy

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@dataclass
class Blob:
    name: str
    last_modified: datetime
    etag: str = '"e"'


class Container:
    def __init__(self, blobs: list[Blob]) -> None:
        self.blobs = blobs

    async def list_blobs(self) -> AsyncIterator[Blob]:
        for blob in self.blobs:
            yield blob


class Receipts:
    def __init__(self, leased: set[str]) -> None:
        self.leased = leased
        self.cursor: datetime | None = None
        self.claimed: list[str] = []

    async def read_cursor(self, _container: str) -> datetime | None:
        return self.cursor

    async def write_cursor(self, _container: str, latest: datetime) -> None:
        self.cursor = latest

    async def claim_and_complete(self, _fid: str, _container: str, name: str, _etag: str,
                                 _enqueue: Callable[[], Awaitable[None]]) -> bool:  # fmt: skip
        if name in self.leased:
            raise ReceiptBusy(name)
        if name in self.claimed:
            return False
        self.claimed.append(name)
        return True


def _triggers(blobs: list[Blob], receipts: Receipts) -> BlobTriggers:
    triggers = BlobTriggers.__new__(BlobTriggers)
    container = Container(blobs)
    service = SimpleNamespace(get_container_client=lambda _name: container)
    triggers.storage = SimpleNamespace(blob_service=lambda _conn: service)  # type: ignore[assignment]
    triggers.receipts = receipts  # type: ignore[assignment]
    triggers.patterns = {"f": BlobPathPattern.parse("photos/{name}")}
    spec: Any = SimpleNamespace(trigger={})
    triggers.specs = {"f": spec}
    return triggers


def test_a_leased_receipt_holds_the_cursor_and_a_later_scan_delivers_the_blob() -> None:
    blobs = [Blob("a.jpg", T0), Blob("b.jpg", T0 + timedelta(seconds=5))]
    receipts = Receipts(leased={"a.jpg"})
    triggers = _triggers(blobs, receipts)
    assert asyncio.run(triggers._scan_container(None, "photos", ["f"])) == 1  # b.jpg; a.jpg is leased
    assert receipts.cursor is not None and receipts.cursor < T0  # not past a.jpg
    receipts.leased.clear()  # the dead host's lease lapsed
    assert asyncio.run(triggers._scan_container(None, "photos", ["f"])) == 1
    assert receipts.claimed == ["b.jpg", "a.jpg"]
    assert receipts.cursor == T0 + timedelta(seconds=5) - timedelta(milliseconds=1)


def test_without_leases_the_cursor_moves_to_the_newest_blob() -> None:
    blobs = [Blob("a.jpg", T0), Blob("b.jpg", T0 + timedelta(seconds=5))]
    receipts = Receipts(leased=set())
    assert asyncio.run(_triggers(blobs, receipts)._scan_container(None, "photos", ["f"])) == 2
    assert receipts.cursor == T0 + timedelta(seconds=5) - timedelta(milliseconds=1)


class GatedReceipts(Receipts):
    """Holds each claim until `want` claims are in flight at once: claims made one after the other never get
    there, and the scan fails on the gate's deadline."""

    def __init__(self, want: int) -> None:
        super().__init__(leased=set())
        self.want, self.in_flight, self.peak = want, 0, 0
        self.gate: asyncio.Event | None = None

    async def claim_and_complete(self, fid: str, container: str, name: str, etag: str,
                                 enqueue: Callable[[], Awaitable[None]]) -> bool:  # fmt: skip
        self.gate = self.gate or asyncio.Event()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        if self.in_flight >= self.want:
            self.gate.set()
        await asyncio.wait_for(self.gate.wait(), timeout=5)
        self.in_flight -= 1
        return await super().claim_and_complete(fid, container, name, etag, enqueue)


def test_a_burst_of_new_blobs_is_claimed_several_at_once_and_bounded() -> None:
    blobs = [Blob(f"{i:03}.jpg", T0 + timedelta(milliseconds=i)) for i in range(40)]
    receipts = GatedReceipts(want=CLAIMS_AT_ONCE)
    assert asyncio.run(_triggers(blobs, receipts)._scan_container(None, "photos", ["f"])) == 40
    assert receipts.peak == CLAIMS_AT_ONCE and sorted(receipts.claimed) == [b.name for b in blobs]
    assert receipts.cursor == T0 + timedelta(milliseconds=39) - timedelta(milliseconds=1)


class GrowingContainer(Container):
    """A listing in name order while a device commits `late` under a name the listing has already passed."""

    def __init__(self, blobs: list[Blob], late: Blob) -> None:
        super().__init__(blobs)
        self.late, self.listings = late, 0

    async def list_blobs(self) -> AsyncIterator[Blob]:
        self.listings += 1
        for blob in sorted(self.blobs, key=lambda b: b.name):
            yield blob
            if self.listings == 1 and blob.name > self.late.name and self.late not in self.blobs:
                self.blobs.append(self.late)  # committed now: too late for this listing's place


def test_a_blob_committed_behind_the_listing_is_delivered_by_the_next_scan() -> None:
    """Found by the 10,000-photo chaos run: four photos uploaded while the host scanned were never delivered,
    because the newest blob the listing saw (a later name, committed later still) moved the cursor past them."""
    container = GrowingContainer(
        [Blob("cam-1/b.jpg", T0 + timedelta(seconds=3))], late=Blob("cam-0/a.jpg", T0 + timedelta(seconds=1))
    )
    receipts = Receipts(leased=set())
    triggers = _triggers([], receipts)
    service = SimpleNamespace(get_container_client=lambda _name: container)
    triggers.storage = SimpleNamespace(blob_service=lambda _conn: service)  # type: ignore[assignment]
    triggers.clock = lambda: T0  # type: ignore[method-assign]  # the first scan starts at T0
    assert asyncio.run(triggers._scan_container(None, "photos", ["f"])) == 1
    assert receipts.cursor is not None and receipts.cursor < T0 + timedelta(seconds=1)
    triggers.clock = lambda: T0 + timedelta(seconds=30)  # type: ignore[method-assign]
    assert asyncio.run(triggers._scan_container(None, "photos", ["f"])) == 1
    assert receipts.claimed == ["cam-1/b.jpg", "cam-0/a.jpg"]
