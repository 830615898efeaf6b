"""Blob names come from validated ids only: no separator, dot-segment or control character can get in."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidInput
from shared.uploads import naming

ids = st.from_regex(naming.ID, fullmatch=True)
# What the blob trigger's validator will accept (shared/validation/names.py).
SEGMENT = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
TRIGGER_SHAPE = re.compile(rf"^{SEGMENT}/{SEGMENT}/[0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}}/{SEGMENT}\.(jpg|png)$")


def test_name_layout():
    name = naming.format_name("site-7", "cam_2", date(2026, 3, 4), "IMG0001", "jpg")
    assert name == "site-7/cam_2/2026/03/04/IMG0001.jpg"
    assert naming.qualified(name) == "photos/site-7/cam_2/2026/03/04/IMG0001.jpg"


@given(ids, ids, ids, st.dates(date(2000, 1, 1), date(9999, 12, 31)), st.sampled_from(["jpg", "png"]))
def test_every_valid_id_makes_a_safe_name(site, device, photo, day, ext):
    name = naming.format_name(site, device, day, photo, ext)
    assert TRIGGER_SHAPE.match(name)
    assert ".." not in name and "\\" not in name and len(name) <= 1024


@pytest.mark.parametrize(
    "bad",
    ["", "..", ".", "a/b", "a\\b", "../x", "-lead", "_lead", "a.b", "a b", "a\x01", "a\u202eb", "é", "a" * 65,
     "%2e%2e", "a\n", None, 7, ["a"]],
)  # fmt: skip
def test_hostile_ids_are_refused(bad):
    with pytest.raises(InvalidInput) as err:
        naming.check_id(bad, "photo_id")
    assert err.value.reason == "invalid_photo_id"


def test_format_name_validates_too():
    with pytest.raises(InvalidInput):
        naming.format_name("s", "../d", date(2026, 1, 1), "p", "jpg")
    with pytest.raises(InvalidInput):
        naming.format_name("s", "d", date(2026, 1, 1), "p", "gif")


@pytest.mark.parametrize(
    ("ext", "content_type", "expected"),
    [
        (None, None, ("jpg", "image/jpeg")),
        ("jpeg", None, ("jpg", "image/jpeg")),
        ("png", None, ("png", "image/png")),
        (None, "image/png", ("png", "image/png")),
        ("jpg", "image/jpeg", ("jpg", "image/jpeg")),
    ],
)
def test_media_defaults_and_aliases(ext, content_type, expected):
    assert naming.media(ext, content_type) == expected


@pytest.mark.parametrize(
    ("ext", "content_type", "reason"),
    [
        ("gif", None, "unsupported_type"),
        (".PNG", None, "unsupported_type"),  # one spelling, as openapi.json lists them
        ("svg", None, "unsupported_type"),
        (None, "text/html", "unsupported_type"),
        (None, "image/heic", "unsupported_type"),
        (3, None, "unsupported_type"),
        ("png", "image/jpeg", "type_mismatch"),
    ],
)
def test_media_refusals(ext, content_type, reason):
    with pytest.raises(InvalidInput) as err:
        naming.media(ext, content_type)
    assert err.value.reason == reason
