from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from emulators.functions_host.binding_expressions import (
    BindingExpressionError,
    BlobPathPattern,
    render,
    resolve_app_settings,
)

FIXED = datetime(2018, 2, 16, 17, 59, 55, 123456, tzinfo=UTC)


def clock():
    return FIXED


# --- %app settings% ---


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%IN%-poison", "jobs-poison"),
        ("%IN%/%OUT%", "jobs/results"),
        ("%in%", "jobs"),  # the host's configuration is case-insensitive
        ("no settings here", "no settings here"),
        ("{name}/%IN%", "{name}/jobs"),  # braces are left for render
        ("%SCHEDULE%", "0 */5 * * * *"),
    ],
)
def test_app_settings(text, expected):
    settings = {"IN": "jobs", "OUT": "results", "SCHEDULE": "0 */5 * * * *"}
    assert resolve_app_settings(text, settings) == expected


def test_exact_setting_name_wins_over_a_case_variant():
    assert resolve_app_settings("%Name%", {"NAME": "upper", "Name": "exact"}) == "exact"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x/%MISSING%", "app setting 'MISSING' \\(used as %MISSING% in 'x/%MISSING%'\\) is not defined"),
        ("50%", "the '%' at position 2 has no closing '%'"),
        ("%%", "app setting ''"),
    ],
)
def test_app_setting_errors(text, message):
    with pytest.raises(BindingExpressionError, match=message):
        resolve_app_settings(text, {"IN": "jobs"})


# --- blob trigger paths ---


@pytest.mark.parametrize(
    ("path", "blob", "expected"),
    [
        ("photos/{site}/{name}", "s1/a.jpg", {"site": "s1", "name": "a.jpg"}),
        ("photos/{site}/{name}", "s1/2026/a.jpg", {"site": "s1/2026", "name": "a.jpg"}),  # greedy, like the host
        ("photos/{site}/{name}", "a.jpg", None),
        ("photos/{name}", "a/b/c.jpg", {"name": "a/b/c.jpg"}),
        ("photos/{name}", "a.b.jpg", {"name": "a.b.jpg"}),
        ("photos/{stem}.jpg", "x.y.jpg", {"stem": "x.y"}),
        ("photos/{stem}.jpg", "dir/x.jpg", {"stem": "dir/x"}),
        ("photos/{stem}.jpg", "x.png", None),
        ("photos/{stem}.jpg", "x.JPG", None),  # literals are case-sensitive
        ("photos/{stem}.txt", "bob.txtoutput", None),  # anchored at the end
        ("photos/{stem}.jpg", ".jpg", {"stem": ""}),  # a capture may be empty, as `.*` allows
        ("photos/{a}.{b}", "foo.alpha.beta.csv", {"a": "foo.alpha.beta", "b": "csv"}),
        ("photos/{site}/{id}.{ext}", "s1/p1.jpeg", {"site": "s1", "id": "p1", "ext": "jpeg"}),
        ("photos/{name}-{date}.csv", "foo-Jan1st.csv", {"name": "foo", "date": "Jan1st"}),
        ("photos/in/{name}", "in/x.jpg", {"name": "x.jpg"}),
        ("photos/in/{name}", "out/x.jpg", None),
        ("photos/{{raw}}/{n}", "{raw}/1", {"n": "1"}),  # doubled braces are literal
        ("photos/fixed.jpg", "fixed.jpg", {}),
        ("photos/fixed.jpg", "fixedxjpg", None),  # '.' is a literal, not a regex wildcard
        ("photos", "any/thing.jpg", {}),  # a bare container matches every blob in it
    ],
)
def test_blob_path_patterns(path, blob, expected):
    pattern = BlobPathPattern.parse(path)
    assert pattern.container == "photos"
    assert pattern.match(blob) == expected


def test_blob_pattern_names_in_order():
    assert BlobPathPattern.parse("photos/{site}/{id}.{ext}").names == ("site", "id", "ext")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("{c}/x", "container name cannot contain an expression"),
        ("photos{x}/y", "container name cannot contain an expression"),
        ("photos/", "format 'container/blob'"),
        ("/photos/x", "format 'container/blob'"),
        ("", "format 'container/blob'"),
        ("a\\b/c", "format 'container/blob'"),
        ("photos/{a.b}", "cannot capture"),
        ("photos/{rand-guid}", "cannot capture"),
        ("photos/{a}/{A}", "captured twice"),
        ("photos/{name", "missing closing '}'"),
        ("photos/name}", "missing opening '{'"),
        ("photos/{}", "empty expression"),
    ],
)
def test_bad_blob_paths(path, message):
    with pytest.raises(BindingExpressionError, match=message):
        BlobPathPattern.parse(path)


# --- rendering ---


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("results/{job_id}/out.json", "results/j1/out.json"),
        ("results/{JOB_ID}", "results/j1"),  # keys are case-insensitive
        ("{payload.site.ID}", "s9"),  # dotted into nested JSON, case-insensitive at each level
        ("{payload.x-header}", "h"),  # later parts may hold '-'
        ("{{literal}}/{{{job_id}}}", "{literal}/{j1}"),
        ("{count}-{ratio}-{whole}-{flag}", "3-0.25-2-True"),
        ("a{nothing}b", "ab"),  # a JSON null renders as nothing, as in the host
        ("{when}", "2018-02-16T17-59-55Z"),
        ("{when:yyyyMMdd}", "20180216"),
        ("{id}", "0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("{id:N}", "0f8fad5bd9cb469fa16570867728950e"),
        ("{id:b}", "{0f8fad5b-d9cb-469f-a165-70867728950e}"),
        ("{id:P}", "(0f8fad5b-d9cb-469f-a165-70867728950e)"),
        ("{id:X}", "{0x0f8fad5b,0xd9cb,0x469f,{0xa1,0x65,0x70,0x86,0x77,0x28,0x95,0x0e}}"),
        ("{DateTime}", "2018-02-16T17-59-55Z"),
        ("{datetime:yyyy/MM/dd/HH}", "2018/02/16/17"),
        ("{DateTime:o}", "2018-02-16T17:59:55.1234560Z"),
        ("{DateTime:s}", "2018-02-16T17:59:55"),
        ("{DateTime:ddd d MMM yy h:mm:ss.fff tt 'at' \\K}", "Fri 16 Feb 18 5:59:55.123 PM at K"),
        ("{sys.utcnow}", "2018-02-16T17-59-55Z"),
        ("no expressions", "no expressions"),
    ],
)
def test_render(template, expected):
    values = {
        "Job_Id": "j1",
        "payload": {"Site": {"id": "s9"}, "x-header": "h"},
        "count": 3,
        "ratio": 0.25,
        "whole": 2.0,
        "flag": True,
        "nothing": None,
        "when": datetime(2018, 2, 16, 17, 59, 55, tzinfo=UTC),
        "id": uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e"),
    }
    assert render(template, values, now=clock) == expected


def test_rand_guid_is_a_fresh_uuid4_for_each_occurrence():
    out = render("{rand-guid}/{rand-guid:N}/{sys.randguid}", {}, now=clock)
    first, second, third = out.split("/")
    assert uuid.UUID(first).version == 4 and str(uuid.UUID(first)) == first
    assert re.fullmatch("[0-9a-f]{32}", second)
    assert uuid.UUID(third).version == 4
    assert len({first, str(uuid.UUID(second)), third}) == 3


def test_binding_data_overrides_a_builtin_of_the_same_name():
    assert render("{DateTime}/{rand-guid}", {"datetime": "mine", "Rand-Guid": "fixed"}, now=clock) == "mine/fixed"


def test_datetime_clock_is_converted_to_utc():
    local = datetime(2018, 2, 16, 19, 59, 55, tzinfo=timezone(timedelta(hours=2)))
    assert render("{DateTime}", {}, now=lambda: local) == "2018-02-16T17-59-55Z"


def test_values_with_an_offset_keep_it():
    value = datetime(2018, 2, 16, 7, 5, 3, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    assert render("{t}|{t:zzz}", {"t": value}) == "2018-02-16T07-05-03-03:30|-03:30"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("results/{job_id}", "no value for 'job_id' in '{job_id}' \\(binding data has: payload, size\\)"),
        ("{payload.missing}", "'{payload.missing}': no property 'missing' to read"),
        ("{size.bytes}", "no property 'bytes'"),  # a number has no properties
        ("{payload}", "'{payload}' is a dict, not a value a path can hold"),
        ("{1abc}", "not a valid binding expression"),
        ("{a-b}", "not a valid binding expression"),  # only later parts may hold '-'
        ("{a..b}", "not a valid binding expression"),
        ("{payload", "missing closing '}'"),
        ("payload}", "missing opening '{'"),
        ("{}", "empty expression"),
        ("{rand-guid:Q}", "'Q' is not a UUID format"),
        ("{DateTime:d}", "standard date format 'd' is not supported"),
    ],
)
def test_render_errors_name_the_problem(template, message):
    with pytest.raises(BindingExpressionError, match=message):
        render(template, {"payload": {"a": 1}, "size": 5}, now=clock)
