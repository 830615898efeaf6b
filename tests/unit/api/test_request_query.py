"""`query_of`: the query as the client sent it, empty values kept, a repeated parameter joined as the host
joins it."""

from __future__ import annotations

from shared.request_query import query_of


def test_empty_values_are_kept_and_percent_escapes_decoded() -> None:
    assert query_of("http://h/api/jobs?site=a%2Db&state=&code=k%3D") == {"site": "a-b", "state": "", "code": "k="}
    assert query_of("http://h/api/jobs") == {}


def test_a_repeated_parameter_is_joined_with_commas_as_the_host_joins_it() -> None:
    assert query_of("http://h/api/jobs?site=a&site=b&limit=1") == {"site": "a,b", "limit": "1"}
