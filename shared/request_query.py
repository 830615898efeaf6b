"""The HTTP API's one query-string reader: the parameters as the client sent them, read from the URL.

The Functions host hands a function `req.params` already rewritten: a parameter given empty is dropped
(ASP.NET's query collection, read through `StringValues`). Read from there, `GET /jobs?site=s&state=` would
list every state, where the API promises that an empty filter is a bad value, never "no filter"
(docs/api.md). So the query is read here from `req.url`, which the host passes on as the client sent it:
an empty value stays empty and the endpoint refuses it. A repeated parameter is joined with ",", as the host
joins it, so both hosts give the app the same value (`site=a&site=b` is the site "a,b": `invalid_site`).
The request line is at most 8 KiB (the host answers 414 past it), which bounds what is parsed.

Only the query is read: the host (the client's `Host` header) is never parsed, so a malformed one (an unbalanced
`[`, which `urlsplit` refuses as an IPv6 address) cannot turn every route into a 500.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

# Dropped from anywhere in a URL before it is split, as `urlsplit` drops them (WHATWG's URL parser does the same).
_REMOVED_FROM_URLS = ("\t", "\r", "\n")


def query_of(url: str) -> dict[str, str]:
    """The query of `url` as name → value: empty values kept, a repeated name's values joined with ","."""
    for removed in _REMOVED_FROM_URLS:
        url = url.replace(removed, "")
    query = url.partition("#")[0].partition("?")[2]  # urlsplit's query: after the first "?", before any "#"
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return {name: ",".join(given) for name, given in values.items()}
