"""The one JSON body parser and its field readers: every malformed body is a 400 `invalid_json`, never a crash."""

from __future__ import annotations

import json

import pytest

from shared import request_body
from shared.errors import InvalidInput


def refused(raw: bytes, max_bytes: int = 4096) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        request_body.json_object(raw, max_bytes=max_bytes)
    return caught.value


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 4096,  # deep enough to exhaust the recursion limit inside 4 KiB
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,  # the same with objects, inside a valid shape
        b"{not json",
        b"\xff\xfe\x00{",  # not UTF-8
        b'{"a": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate: invalid UTF-8
        b'{"a": "\\ud800"}',  # an unpaired surrogate escape: parses, but no encoder accepts it
        b'{"a": NaN}',
        b'{"a": -Infinity}',
        b'{"a": 1, "a": 2}',
        b'{"a": ' + b"1" * 5000 + b"}",  # an integer too long for int() (4,300 digits)
        b"[1, 2]",
        b'"a string"',
        b"12",
        b"null",
        b"{} {}",
    ],
)
def test_every_malformed_body_is_invalid_json(raw):
    assert refused(raw, max_bytes=len(raw) + 1).reason == "invalid_json"


def test_the_size_cap_comes_before_parsing():
    error = refused(b"[" * 100_000, max_bytes=4096)  # would be a RecursionError if it were parsed
    assert error.reason == "invalid_json" and "larger than 4096 bytes" in str(error)
    assert request_body.json_object(json.dumps({"a": "x" * 10}).encode(), max_bytes=20) == {"a": "x" * 10}
    assert refused(json.dumps({"a": "x" * 20}).encode(), max_bytes=20).reason == "invalid_json"


def test_an_empty_body_is_an_empty_object_and_utf8_text_survives():
    assert request_body.json_object(b"", max_bytes=10) == {}
    assert request_body.json_object(b"  \n", max_bytes=10) == {}
    doc = {"label": "Pumpe \u00fcber 415 V \U0001f527", "deep": [[[[1]]]]}
    assert request_body.json_object(json.dumps(doc).encode(), max_bytes=200) == doc


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, True),
        ("plain", True),
        ("a\nb\tc\r\n", True),
        ("x" * 10, True),
        ("x" * 11, False),
        ("", False),  # min_chars=1
        ("bell\x07", False),
        ("nul\x00", False),
        ("del\x7f", False),
        (12, False),
        (True, False),
        ({"a": 1}, False),
        (["a"], False),
    ],
)
def test_text_checks_type_length_and_control_characters(value, ok):
    doc = {"name": value}
    if ok:
        assert request_body.text(doc, "name", max_chars=10, min_chars=1, reason="bad_name") == value
    else:
        with pytest.raises(InvalidInput) as caught:
            request_body.text(doc, "name", max_chars=10, min_chars=1, reason="bad_name")
        assert caught.value.reason == "bad_name"


def test_absent_text_is_none():
    assert request_body.text({}, "name", max_chars=3, reason="bad_name") is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [(None, True), ([], True), (["a", "bb"], True), (["a"] * 4, False), (["abc"], False), ([1], False),
     ("a", False), ({"a": 1}, False)],
)  # fmt: skip
def test_string_list_checks_type_count_and_length(value, ok):
    if ok:
        assert request_body.string_list({"items": value}, "items", max_items=3, max_chars=2, reason="bad_list") == value
    else:
        with pytest.raises(InvalidInput) as caught:
            request_body.string_list({"items": value}, "items", max_items=3, max_chars=2, reason="bad_list")
        assert caught.value.reason == "bad_list"


@pytest.mark.parametrize(
    ("raw", "headers", "lost"),
    [
        (b"", {"Transfer-Encoding": "chunked"}, True),  # in Azure, whatever the chunks held
        (b"", {"transfer-encoding": "gzip, chunked"}, True),
        (b"", {"content-length": "0"}, False),
        (b"", {}, False),
        (b'{"a": 1}', {"transfer-encoding": "chunked"}, False),  # a host that passes chunked bodies (the local one)
    ],
)
def test_only_an_empty_body_of_a_request_framed_with_transfer_encoding_is_lost_in_transit(raw, headers, lost):
    assert request_body.lost_in_transit(raw, headers) is lost
