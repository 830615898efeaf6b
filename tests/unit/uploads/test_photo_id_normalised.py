"""The default photo id does not depend on how the file system spells a name's accented letters.

Linux and camera cards keep `ü` as one code point (NFC), macOS as `u` and a combining diaeresis (NFD); the same
file copied between them must be the same upload, not two photos. ASCII names keep the ids they always had.
"""

from __future__ import annotations

import string
import unicodedata
from pathlib import Path

import pytest

from sitelens import upload
from tests.unit.uploads.fakes import ScriptedStorage
from tests.unit.uploads.test_client import JPEG, Api, uploader

CONTENT = "2078274b743c84b4"  # the first 16 hex digits of sha256(JPEG)
NAME = "Baustelle Süd Übergabe.jpg"


def test_the_same_name_in_nfc_and_nfd_gives_one_photo_id():
    nfc, nfd = (Path(unicodedata.normalize(form, NAME)) for form in ("NFC", "NFD"))
    assert str(nfc) != str(nfd)  # two spellings of one name
    expected = f"Baustelle-Sud-Ubergabe-{CONTENT}"
    assert upload.default_photo_id(nfc, JPEG) == upload.default_photo_id(nfd, JPEG) == expected


def test_a_file_copied_from_macos_beside_its_linux_copy_asks_for_the_same_reservation(tmp_path: Path):
    api = Api()
    for form in ("NFC", "NFD"):
        path = tmp_path / unicodedata.normalize(form, NAME)
        path.write_bytes(JPEG)
        uploader(api, ScriptedStorage(), tmp_path).upload(path)
    assert len({p.name for p in tmp_path.iterdir()}) == 2  # the file system keeps both spellings apart
    assert [b["photo_id"] for b in api.bodies] == [f"Baustelle-Sud-Ubergabe-{CONTENT}"] * 2


@pytest.mark.parametrize(
    ("name", "photo_id"),
    [("IMG_0001.jpg", f"IMG_0001-{CONTENT}"), ("my photo (1).JPG", f"my-photo-1-{CONTENT}"),
     ("Site 7 - pump #3.jpeg", f"Site-7---pump-3-{CONTENT}"), ("...jpg", CONTENT), ("_x.jpg", f"x-{CONTENT}"),
     ("a" * 90 + ".jpg", "a" * 47 + f"-{CONTENT}"), ("no-suffix", f"no-suffix-{CONTENT}"),
     ("x0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~.jpg",
      f"x0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ-_-abcdef-{CONTENT}")],
)  # fmt: skip
def test_ascii_names_keep_the_ids_they_had(name: str, photo_id: str):
    assert upload.default_photo_id(Path(name), JPEG) == photo_id


@pytest.mark.parametrize("char", [c for c in string.printable if c not in "/\t\n\r\x0b\x0c"])
def test_every_ascii_character_is_kept_or_made_a_dash_as_before(char: str):
    kept = char in string.ascii_letters + string.digits + "_-"
    assert upload.default_photo_id(Path(f"a{char}b.jpg"), JPEG) == f"a{char if kept else '-'}b-{CONTENT}"


@pytest.mark.parametrize(
    ("name", "stem"),
    [("Übergabe.jpg", "Ubergabe"), ("ÅNGSTRÖM ﬁeld.png", "ANGSTROM-field"),  # ﬁ: one ligature character
     ("\uff29\uff2d\uff27\uff3f\uff10\uff11.jpg", "IMG_01"),  # IMG_01 in full-width forms (a phone keyboard)
     ("crème brûlée.jpg", "creme-brulee"), ("写真 7.jpg", "7"), ("Straße.jpg", "Stra-e")],
)  # fmt: skip
def test_letters_are_kept_without_their_accents_and_what_has_no_ascii_form_becomes_a_dash(name: str, stem: str):
    assert upload.default_photo_id(Path(name), JPEG) == f"{stem}-{CONTENT}"
