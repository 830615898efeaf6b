from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from emulators.functions_host.binding_expressions import (
    BindingExpressionError,
    BlobPathPattern,
    render,
    resolve_app_settings,
)


def test_app_settings():
    assert resolve_app_settings("%IN%-poison", {"IN": "jobs"}) == "jobs-poison"
    with pytest.raises(BindingExpressionError, match="MISSING"):
        resolve_app_settings("%MISSING%", {})


@pytest.mark.parametrize(
    ("path", "blob", "expected"),
    [
        ("photos/{site}/{name}", "s1/a.jpg", {"site": "s1", "name": "a.jpg"}),
        ("photos/{site}/{name}", "s1/2026/11/a.jpg", {"site": "s1", "name": "2026/11/a.jpg"}),  # last spans '/'
        ("photos/{site}/{name}", "a.jpg", None),
        ("photos/{stem}.jpg", "x.y.jpg", {"stem": "x.y"}),
        ("photos/{stem}.jpg", "x.png", None),
        ("photos/{site}/{id}.{ext}", "s1/p1.jpeg", {"site": "s1", "id": "p1", "ext": "jpeg"}),
        ("photos", "any/thing.jpg", {}),
    ],
)
def test_blob_path_patterns(path, blob, expected):
    pattern = BlobPathPattern.parse(path)
    assert pattern.container == "photos"
    assert pattern.match(blob) == expected


def test_container_must_be_fixed():
    with pytest.raises(BindingExpressionError, match="container"):
        BlobPathPattern.parse("{c}/x")


def test_render_values_dotted_case_insensitive_and_braces():
    values = {"Job_Id": "j1", "payload": {"Site": {"id": "s9"}}}
    assert render("results/{job_id}/{payload.site.ID}/{{raw}}", values) == "results/j1/s9/{raw}"


def test_render_rand_guid_and_datetime():
    fixed = datetime(2018, 2, 16, 17, 59, 55, tzinfo=UTC)
    out = render("x/{DateTime}/{rand-guid}", {}, now=lambda: fixed)
    prefix, guid = out.rsplit("/", 1)
    assert prefix == "x/2018-02-16T17-59-55Z"
    assert uuid.UUID(guid).version == 4


def test_render_missing_value_names_it():
    with pytest.raises(BindingExpressionError, match="job_id"):
        render("results/{job_id}", {})
