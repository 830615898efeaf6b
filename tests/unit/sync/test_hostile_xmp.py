"""Odd or hostile XMP in a photo in the drop folder: numbers longer than any file's size, an encoding expat cannot
read, directories nested or listed far beyond any camera's. Each declares nothing, so the end marker decides,
after work that grows no faster than the packet; none of them stops the agent, and one past its 10 minutes is
sent without being read again."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitelens import sync_motion, sync_settler
from sitelens.sync_settler import Settler, is_whole
from tests.support.line_budget import lines_run
from tests.unit.sync.fakes import make_rig, status
from tests.unit.sync.test_incomplete_and_moves import passes
from tests.unit.sync.test_motion_photos import google_motion_photo, video, with_metadata

SITELENS = Path(sync_settler.__file__).parent
LONG = "9" * 4301  # one digit past what int() reads from a string


def item(semantic: str, length: str) -> str:
    return f'<rdf:li><Container:Item Item:Semantic="{semantic}" Item:Length="{length}"/></rdf:li>'


def seq(listed: str) -> str:
    return f"<Container:Directory><rdf:Seq>{listed}</rdf:Seq></Container:Directory>"


def nested(opening: str, closing: str, levels: int) -> str:
    return opening * levels + closing * levels


HOSTILE: dict[str, str] = {
    "a length of 4,301 digits": ">" + seq(item("Primary", "0") + item("GainMap", LONG)),
    "an offset of 4,301 digits": f'Camera:MicroVideoOffset="{LONG}">',
    "a multi-byte encoding": 'Camera:MicroVideoOffset="1">',  # read as shift_jis (below), the offset is not read
    "nested directories": ">" + seq(nested("<rdf:li><Container:Directory>", "</Container:Directory></rdf:li>", 1000)),
    "nested items": ">" + seq(nested("<rdf:li>", "</rdf:li>", 3000)),
    "a very wide directory": ">" + seq(item("Primary", "0") + '<rdf:li Item:Length="1"/>' * 2000),
    "a very wide item": ">" + seq(item("Primary", "0") + f"<rdf:li>{'<Item:Length>1</Item:Length>' * 2000}</rdf:li>"),
}


def hostile(name: str) -> bytes:
    prolog = '<?xml version="1.0" encoding="shift_jis"?>' if name == "a multi-byte encoding" else ""
    return with_metadata(HOSTILE[name], prolog=prolog)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_xmp_declares_nothing_after_work_linear_in_its_size(tmp_path: Path, name: str):
    photo, clip = tmp_path / "IMG.jpg", video(400)
    data = hostile(name)
    budget = len(data)  # a few lines per element or attribute read, and each takes a dozen bytes or more
    photo.write_bytes(data)
    assert lines_run(lambda: is_whole(str(photo)), budget, SITELENS)[0] is True  # the image's end marker ends the file
    photo.write_bytes(data + clip)
    assert lines_run(lambda: is_whole(str(photo)), budget, SITELENS)[0] is False  # nothing declares what follows it


@pytest.mark.parametrize(("digits", "whole"), [(18, True), (19, False)])
def test_a_length_is_read_up_to_eighteen_digits(tmp_path: Path, digits: int, whole: bool):
    clip = video(1200)
    (tmp_path / "IMG.jpg").write_bytes(with_metadata(f'Camera:MicroVideoOffset="{len(clip):0{digits}}">') + clip)
    assert is_whole(str(tmp_path / "IMG.jpg")) is whole


def test_the_agent_sends_the_other_photos_past_hostile_ones_and_those_after_ten_minutes_unread(tmp_path, monkeypatch):
    agent, service, clock, folder = make_rig(tmp_path)
    clip = video(400)
    held = {f"IMG_{n}.jpg": hostile(name) + clip for n, name in enumerate(HOSTILE)}
    for name, data in held.items():
        (folder / name).write_bytes(data)
    (folder / "PXL_0001.MP.jpg").write_bytes(google_motion_photo())
    (folder / "PXL_0002.jpg").write_bytes(with_metadata())
    read: list[str] = []

    def reading(path: str) -> bool:
        read.append(Path(path).name)
        return is_whole(path)

    monkeypatch.setattr(sync_settler, "is_whole", reading)
    passes(agent, clock, 2)
    assert sorted(service.sent) == ["PXL_0001.MP.jpg", "PXL_0002.jpg"]
    assert [entry["path"] for entry in status(agent)["settling"] if entry.get("incomplete")] == [
        str(folder / name) for name in sorted(held)
    ]
    read.clear()
    clock.now += agent.settings.incomplete_s
    passes(agent, clock, 1)
    assert sorted(service.sent) == sorted([*held, "PXL_0001.MP.jpg", "PXL_0002.jpg"])
    assert read == []  # past its bound, a photo is sent as it is: its structure is not read again


def test_a_file_past_its_bound_is_settled_without_being_read(tmp_path, monkeypatch):
    monkeypatch.setattr(sync_settler, "is_whole", lambda path: pytest.fail(f"{path} read"))
    settler = Settler(5.0, incomplete_s=600.0, wall=lambda: 601.0)  # its mtime (0) is 601 s ago
    assert settler.observe({"a.jpg": (10, 0)}, 0.0) == []
    assert settler.observe({"a.jpg": (10, 0)}, 5.0) == [("a.jpg", 10, 0)]


@pytest.mark.parametrize(
    ("fault", "cut", "whole"),
    [(RecursionError, 0, False), (OSError, 1, True)],
    ids=["a structure that cannot be followed: the end marker decides", "a failed read: sent, the upload reports it"],
)
def test_any_fault_in_reading_a_trailer_gets_a_verdict(tmp_path, monkeypatch, fault, cut: int, whole: bool):
    def broken(xmp: bytes) -> int:
        raise fault

    clip = video(1200)
    data = with_metadata(f'Camera:MicroVideoOffset="{len(clip)}">') + clip
    (tmp_path / "IMG.jpg").write_bytes(data[: len(data) - cut])
    assert is_whole(str(tmp_path / "IMG.jpg")) is not whole  # as declared: whole unless cut
    monkeypatch.setattr(sync_motion, "declared_trailer", broken)
    assert is_whole(str(tmp_path / "IMG.jpg")) is whole
