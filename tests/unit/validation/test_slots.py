"""Decode slots shared fairly within a memory budget: one site's queue of slow photos never keeps another site's
photo waiting long, and photos decoded at once never hold more than the budget, unless one runs alone."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator

import pytest

from shared.validation import Accepted, Limits, QualityPolicy, Rejected, image, validate, validator
from shared.validation.formats import JPEG, PNG, Header
from shared.validation.jpeg_structure import JpegStructure
from shared.validation.slots import FairSlots
from shared.validation.structure import Structure
from tests.support.waiting import wait_for
from tests.unit.validation.images import scan_bomb, sign_jpeg


class Holder:
    """A thread that takes a slot (and `weight`) for `site`, records when it got in, and holds it until let go."""

    def __init__(self, slots: FairSlots, site: str, entered: list[str], lock: threading.Lock, weight: int) -> None:
        self.site, self.inside, self.leave = site, threading.Event(), threading.Event()

        def hold() -> None:
            with slots.hold(site, weight):
                with lock:
                    entered.append(site)
                self.inside.set()
                self.leave.wait(30)

        self.thread = threading.Thread(target=hold, daemon=True)
        self.thread.start()

    def release(self) -> None:
        self.leave.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def holders() -> Iterator[object]:
    entered: list[str] = []
    lock = threading.Lock()
    started: list[Holder] = []

    def start(slots: FairSlots, site: str, weight: int = 0) -> Holder:
        holder = Holder(slots, site, entered, lock, weight)
        started.append(holder)
        return holder

    start.entered = entered  # type: ignore[attr-defined]
    yield start
    for holder in started:
        holder.leave.set()
    for holder in started:
        holder.thread.join(30)


def test_a_site_alone_uses_every_slot(holders):
    slots = FairSlots(2)
    first, second = holders(slots, "a"), holders(slots, "a")
    assert first.inside.wait(10) and second.inside.wait(10)
    assert slots.held("a") == 2


def test_another_sites_photo_takes_the_next_free_slot_ahead_of_the_hogs_queue(holders):
    slots = FairSlots(2)
    hogs = [holders(slots, "hog") for _ in range(2)]
    assert all(h.inside.wait(10) for h in hogs)
    queued = [holders(slots, "hog") for _ in range(3)]
    wait_for(lambda: slots.waiting() == 3, 10, "the hog's queue to form")
    other = holders(slots, "north-yard")
    wait_for(lambda: slots.waiting() == 4, 10, "the other site's photo to queue behind it")
    hogs[0].release()
    assert other.inside.wait(10)
    assert not any(q.inside.is_set() for q in queued)  # the freed slot went past all three
    assert holders.entered == ["hog", "hog", "north-yard"] and slots.held("hog") == 1
    hogs[1].release()
    assert queued[0].inside.wait(10) and not queued[1].inside.is_set()  # then the hog's queue, in order


def test_sites_holding_as_many_slots_are_served_in_arrival_order(holders):
    slots = FairSlots(1)
    busy = holders(slots, "a")
    assert busy.inside.wait(10)
    later = []
    for site in ["b", "c", "d"]:
        later.append(holders(slots, site))
        wait_for(lambda: slots.waiting() == len(later), 10, f"{site} to queue")
    for holder in [busy, *later]:
        holder.release()
    assert holders.entered == ["a", "b", "c", "d"]


def test_photos_are_admitted_while_their_weights_fit_the_budget(holders):
    slots = FairSlots(4, budget=10)
    first, second = holders(slots, "a", 4), holders(slots, "b", 6)
    assert first.inside.wait(10) and second.inside.wait(10)  # 10 of 10: up to the budget, not past it
    third = holders(slots, "c", 1)
    wait_for(lambda: slots.waiting() == 1, 10, "the third photo to wait for room")
    assert slots.weight_held() == 10 and not third.inside.is_set()
    first.release()
    assert third.inside.wait(10) and slots.weight_held() == 7


def test_however_light_the_photos_no_more_run_at_once_than_slots(holders):
    slots = FairSlots(2, budget=100)
    running = [holders(slots, site, 1) for site in ["a", "b"]]
    assert all(r.inside.wait(10) for r in running)
    third = holders(slots, "c", 1)
    wait_for(lambda: slots.waiting() == 1, 10, "the third photo to wait for a slot")
    running[0].release()
    assert third.inside.wait(10)


def test_a_photo_heavier_than_the_budget_waits_for_the_rest_then_runs_alone(holders):
    slots = FairSlots(4, budget=10)
    light = holders(slots, "a", 3)
    assert light.inside.wait(10)
    heavy = holders(slots, "b", 25)
    wait_for(lambda: slots.waiting() == 1, 10, "the heavy photo to wait")
    later = holders(slots, "c", 1)  # would fit beside the light one, but the heavy one's turn came first
    wait_for(lambda: slots.waiting() == 2, 10, "a light photo to queue behind it")
    light.release()
    assert heavy.inside.wait(10)
    assert slots.waiting() == 1 and not later.inside.is_set()  # alone, though 1 is far less than the budget
    heavy.release()
    assert later.inside.wait(10) and holders.entered == ["a", "b", "c"]


def test_lighter_photos_queued_behind_a_heavy_one_do_not_pass_it(holders):
    slots = FairSlots(4, budget=10)
    hogs = [holders(slots, "hog", 4) for _ in range(2)]
    assert all(h.inside.wait(10) for h in hogs)
    heavy = holders(slots, "north-yard", 6)
    wait_for(lambda: slots.waiting() == 1, 10, "the heavy photo to wait for room")
    light = [holders(slots, "hog", 1), holders(slots, "east-yard", 1)]  # each fits in the 2 left
    wait_for(lambda: slots.waiting() == 3, 10, "two light photos to queue behind it")
    hogs[0].release()
    assert heavy.inside.wait(10)
    assert slots.weight_held() == 10 and slots.waiting() == 2 and not any(x.inside.is_set() for x in light)
    heavy.release()
    assert all(x.inside.wait(10) for x in light)


def test_another_sites_photo_takes_the_next_turn_when_the_budget_frees(holders):
    slots = FairSlots(4, budget=12)  # three photos of 4 fill it with a slot to spare
    hogs = [holders(slots, "hog", 4) for _ in range(3)]
    assert all(h.inside.wait(10) for h in hogs)
    queued = [holders(slots, "hog", 4) for _ in range(2)]
    wait_for(lambda: slots.waiting() == 2, 10, "the hog's queue to form")
    other = holders(slots, "north-yard", 4)
    wait_for(lambda: slots.waiting() == 3, 10, "the other site's photo to queue behind it")
    hogs[0].release()
    assert other.inside.wait(10)
    assert not any(q.inside.is_set() for q in queued) and slots.held("hog") == 2
    hogs[1].release()
    assert queued[0].inside.wait(10) and not queued[1].inside.is_set()  # then the hog's queue, in order


def test_another_sites_photo_keeps_its_turn_while_it_waits_for_room(holders):
    """A site's heavy photos decode one at a time; another site's photo that does not fit beside the one running
    is next once it ends, before the rest of that site's queue (which, holding none then, would tie with it)."""
    slots = FairSlots(4, budget=10)
    hog = [holders(slots, "hog", 6)]
    assert hog[0].inside.wait(10)
    for _ in range(5):
        hog.append(holders(slots, "hog", 6))
        wait_for(lambda: slots.waiting() == len(hog) - 1, 10, "the hog's queue to form, in order")
    other = holders(slots, "north-yard", 5)
    wait_for(lambda: slots.waiting() == 6, 10, "the other site's photo to queue behind it")
    hog[0].release()
    assert other.inside.wait(10)
    assert not any(h.inside.is_set() for h in hog[1:]) and holders.entered == ["hog", "north-yard"]
    other.release()
    assert hog[1].inside.wait(10) and not any(h.inside.is_set() for h in hog[2:])  # then the hog's queue, in order


IHDR_RGBA16 = struct.pack(">4sIIBBBBB", b"IHDR", 8160, 6120, 16, 6, 0, 0, 0)  # 16 bits a sample, RGBA
RGBA16 = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + IHDR_RGBA16 + b"\0\0\0\0"


def jpeg_50_mp(buffered_samples_a_pixel: int) -> int:
    structure = JpegStructure(10, 0, buffered_samples_a_pixel * 8160 * 6120)
    return image.footprint(b"", Header(JPEG, 8160, 6120), structure)


FIFTY_MP = {  # a 50 MP photo's weight, and how many of four decode at once within a 2,048 MB instance's budget
    "16-bit RGBA PNG": (image.footprint(RGBA16, Header(PNG, 8160, 6120), Structure(1, 0)), 1),
    "baseline JPEG": (jpeg_50_mp(0), 3),
    "progressive 4:4:4 JPEG": (jpeg_50_mp(3), 2),
    "progressive CMYK JPEG": (jpeg_50_mp(4), 1),
}


@pytest.mark.parametrize("name", FIFTY_MP)
def test_the_decode_budget_of_a_2048_mb_instance_decodes_so_many_50_mp_photos_at_once(holders, name):
    """Four 16-bit RGBA PNGs at once would take some 3 GiB, past the instance; three baseline JPEGs still decode
    together, but only two progressive 4:4:4 ones and a single progressive CMYK one."""
    weight, together = FIFTY_MP[name]
    slots = FairSlots(4, validator.decode_memory_budget(2048))
    photos = [holders(slots, f"site-{n}", weight) for n in range(4)]
    wait_for(lambda: sum(p.inside.is_set() for p in photos) == together and slots.waiting() == 4 - together, 10,
             f"{together} in, the rest waiting")  # fmt: skip


def test_an_ordinary_photo_is_decoded_while_a_senders_slow_photos_still_queue(monkeypatch):
    """Through validate(): a sender's photos that pass every check but decode slowly hold both slots and queue
    more; a photo from another site is decoded as soon as one of them ends, before the rest of the queue."""
    slots, ordinary = FairSlots(2), sign_jpeg()
    slow = sign_jpeg(640, 480)  # different bytes: the stand-in decoder tells them apart
    finish_one = threading.Semaphore(0)
    decoded: list[str] = []
    lock = threading.Lock()
    real = image.decode

    def decode(data, header):
        with lock:
            decoded.append("ordinary" if data == ordinary else "slow")
        if data == slow:
            assert finish_one.acquire(timeout=30)
        return real(data, header)

    monkeypatch.setattr(image, "decode", decode)
    verdicts: dict[str, object] = {}

    def deliver(key: str, name: str, data: bytes) -> threading.Thread:
        def run() -> None:
            verdicts[key] = validate(name, len(data), lambda: data, Limits(), QualityPolicy(), slots=slots)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    threads = [deliver(f"slow{n}", f"hostile/cam/2026/11/22/p{n}.jpg", slow) for n in range(5)]
    wait_for(lambda: slots.held("hostile") == 2 and slots.waiting() == 3, 10, "two slow decodes and three queued")
    threads.append(deliver("ordinary", "north-yard/cam-1/2026/11/22/IMG_0001.jpg", ordinary))
    wait_for(lambda: slots.waiting() == 4, 10, "the ordinary photo to queue")
    finish_one.release()
    threads[-1].join(30)
    assert isinstance(verdicts["ordinary"], Accepted)
    assert decoded[:3] == ["slow", "slow", "ordinary"]  # the freed slot went past the three queued slow ones
    for _ in range(4):
        finish_one.release()
    for thread in threads:
        thread.join(30)
    assert all(isinstance(verdicts[f"slow{n}"], Accepted) for n in range(5))


def test_scan_bombs_never_take_a_slot(monkeypatch):
    slots = FairSlots(1)
    monkeypatch.setattr(image, "decode", lambda data, header: pytest.fail("decoded a scan bomb"))
    bomb = scan_bomb(512, 512, 500)
    with slots.hold("someone-else"):  # every slot busy: a bomb that needed one would wait here forever
        verdict = validate("hostile/cam/2026/11/22/p.jpg", len(bomb), lambda: bomb, Limits(), QualityPolicy(),
                           slots=slots)  # fmt: skip
    assert isinstance(verdict, Rejected) and verdict.reason.value == "too_many_scans"
