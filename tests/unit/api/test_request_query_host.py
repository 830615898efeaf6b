"""`query_of` reads the query alone: a host `urlsplit` refuses (an unbalanced `[`, read as an IPv6 address) is
never parsed, and every URL `urlsplit` does read gives the same query as before."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from shared.request_query import query_of

URLS_URLSPLIT_READS = [
    "http://h/api/jobs?site=a&state=",
    "http://h/api/jobs",
    "http://h/api/jobs?",
    "http://h/api/jobs?site=a#frag?x=1",  # a "?" in the fragment is not the query's
    "http://h/api/jobs#frag?site=a",  # a "?" after the "#": no query at all
    "http://h/api/jobs?site=a?b&limit=1",  # a second "?" belongs to the query
    "http://h:7071/api/jobs;p?site=a",
    "http://[::1]:7071/api/jobs?site=a",
    "http://h/api/jobs?si\tte=a\r\n&limit=2",  # tab, CR and LF are dropped anywhere, as urlsplit drops them
    "/api/jobs?site=a",
]


@pytest.mark.parametrize(
    "url", ["http://]/api/jobs?site=a", "http://[/api/jobs?site=a", "http://h\uff03/api/jobs?site=a"]
)
def test_a_host_urlsplit_refuses_does_not_stop_the_query_being_read(url: str) -> None:
    with pytest.raises(ValueError):  # why the query is not read through urlsplit
        urlsplit(url)
    assert query_of(url) == {"site": "a"}


@pytest.mark.parametrize("url", URLS_URLSPLIT_READS)
def test_the_query_is_the_one_urlsplit_reads(url: str) -> None:
    expected: dict[str, list[str]] = {}
    for name, value in [part.split("=", 1) for part in urlsplit(url).query.split("&") if "=" in part]:
        expected.setdefault(name, []).append(value)
    assert query_of(url) == {name: ",".join(values) for name, values in expected.items()}
