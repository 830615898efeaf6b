from __future__ import annotations

import pytest

from emulators.functions_host.routes import RouteError, RouteTemplate

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("jobs/{job_id}", "jobs/j-1", {"job_id": "j-1"}),
        ("jobs/{job_id}", "/jobs/j-1/", {"job_id": "j-1"}),  # surrounding slashes ignored
        ("jobs/{job_id}", "JOBS/j-1", {"job_id": "j-1"}),  # literals are case-insensitive
        ("Jobs/Latest", "jobs/LATEST", {}),
        ("jobs/{job_id}", "jobs/J-1", {"job_id": "J-1"}),  # values keep their case
        ("jobs/{job_id}", "jobs", None),
        ("jobs/{job_id}", "jobs/j-1/extra", None),
        ("jobs/{job_id}", "tasks/j-1", None),
        ("jobs/{job_id}/status", "jobs//status", None),  # an empty segment is no value
        # segments as ASP.NET's PathTokenizer splits them: one trailing '/' ignored, nothing collapsed
        ("api/jobs/{job_id}", "/API/Jobs/j-1", {"job_id": "j-1"}),
        ("api/jobs/{job_id}", "/api//jobs/j-1", None),
        ("api/jobs/{job_id}", "//api/jobs/j-1", None),
        ("api/jobs/{job_id}", "/api/jobs/j-1//", None),
        ("files/{name?}", "/files/", {}),
        ("files/{name?}", "/files//", None),
        ("", "/", {}),
        ("", "//", None),
        ("", "", {}),
        ("", "x", None),
        # decoding: %XX decoded, '+' is not a space, %2F stays encoded so a value cannot gain a '/'
        ("jobs/{job_id}", "jobs/a%20b", {"job_id": "a b"}),
        ("jobs/{job_id}", "jobs/a+b", {"job_id": "a+b"}),
        ("jobs/{job_id}", "jobs/caf%C3%A9", {"job_id": "café"}),
        ("jobs/{job_id}", "jobs/a%2Fb", {"job_id": "a%2Fb"}),
        ("jobs/{job_id}", "jobs/a%2fb%25", {"job_id": "a%2fb%"}),
        ("caf%C3%A9/{x}", "café/1", None),  # literals are compared decoded, so write them decoded
        ("café/{x}", "CAF%C3%89/1", {"x": "1"}),
        # optional, defaults, catch-all
        ("files/{name?}", "files", {}),
        ("files/{name?}", "files/x", {"name": "x"}),
        ("files/{name?}", "files/x/y", None),
        ("list/{page=1}", "list", {"page": "1"}),
        ("list/{page:int=1}", "list/7", {"page": "7"}),
        ("list/{page:int=1}", "list/x", None),
        ("{area=Home}/{action=Index}/{id?}", "", {"area": "Home", "action": "Index"}),
        ("{area=Home}/{action=Index}/{id?}", "shop/buy/9", {"area": "shop", "action": "buy", "id": "9"}),
        ("a/{x?}/b", "a/1/b", {"x": "1"}),  # positional: an optional in the middle can only be given
        ("a/{x?}/b", "a/b", None),
        ("static/{*rest}", "static/a/b%20c/d.css", {"rest": "a/b c/d.css"}),
        ("static/{**rest}", "static/a%2Fb/c", {"rest": "a%2Fb/c"}),
        ("static/{*rest}", "static", {}),
        ("static/{*rest}", "/static/a//b/", {"rest": "a//b/"}),  # the rest as it is, trailing '/' included
        ("static/{*rest}", "/static//a", None),  # but its first segment may not be empty
        ("static/{*rest=index.html}", "static", {"rest": "index.html"}),
        ("static/{*rest:minlength(3)}", "static/ab", None),
        # mixed segments capture greedily, like ASP.NET's right-to-left match
        ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("files/{name}.{ext}", "files/a.b.c", {"name": "a.b", "ext": "c"}),
        ("files/{name}.{ext}", "files/noext", None),
        ("v{version:int}/items", "V2/items", {"version": "2"}),
        ("v{version:int}/items", "vx/items", None),
    ],
)
def test_match(template, path, expected):
    assert RouteTemplate.parse(template).match(path) == expected


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        ("int", ["42", "-7", "+3", "2147483647"], ["x", "4.2", "2147483648", "1e3", "٣"]),
        ("long", ["2147483648", "-9223372036854775808"], ["9223372036854775808", "x"]),
        ("bool", ["true", "FALSE", "True"], ["yes", "1", "truth"]),
        (
            "guid",
            [GUID, GUID.upper(), GUID.replace("-", ""), f"{{{GUID}}}", f"({GUID})"],
            ["x", GUID[:-1], f"{{{GUID})"],
        ),
        ("alpha", ["abc", "ABC"], ["abc1", "é", "a-b"]),
        ("double", ["1", "-1.5", "1e5", ".5", "1,000.25", "NaN", "-Infinity"], ["x", "1e", ".", "1.2.3"]),
        ("decimal", ["1", "-1.5", "1,000"], ["1e5", "x"]),
        ("datetime", ["2027-01-02", "2027-01-02T03:04:05"], ["tomorrow", "2027-13-01"]),
        ("min(10)", ["10", "99"], ["9", "x"]),
        ("max(10)", ["10", "-5"], ["11"]),
        ("range(1,3)", ["1", "3"], ["0", "4"]),
        ("length(3)", ["abc"], ["ab", "abcd"]),
        ("length(2,3)", ["ab", "abc"], ["a", "abcd"]),
        ("minlength(2)", ["ab"], ["a"]),
        ("maxlength(2)", ["ab"], ["abc"]),
        ("regex(^[a-z]{{2}}\\d+$)", ["ab1", "AB12"], ["a1", "abc1"]),  # case-insensitive, braces doubled
        ("regex(\\d)", ["a1b"], ["ab"]),  # unanchored, as ASP.NET's regex constraint is
        ("int:min(1)", ["1"], ["0", "x"]),  # chained constraints must all hold
        ("INT", ["1"], ["x"]),  # constraint names are case-insensitive
    ],
)
def test_constraints(constraint, good, bad):
    route = RouteTemplate.parse(f"items/{{id:{constraint}}}")
    for value in good:
        assert route.match(f"items/{value}") == {"id": value}, value
    for value in bad:
        assert route.match(f"items/{value}") is None, value


def test_constraints_see_decoded_values():
    assert RouteTemplate.parse("n/{x:alpha}").match("n/ab%63") == {"x": "abc"}


def test_precedence_orders_routes_as_the_functions_host_does():
    templates = [
        "jobs/{*rest}",
        "jobs/{id}",
        "{kind}/latest",
        "jobs/{id:int}",
        "jobs/latest",
        "jobs/{name}.{ext}",
        "jobs/{*rest:minlength(1)}",
        "jobs",
        "jobs/{id}/tasks",
    ]
    ordered = sorted((RouteTemplate.parse(t) for t in templates), key=lambda r: r.precedence)
    assert [r.template for r in ordered] == [
        "jobs",  # (1,)
        "jobs/latest",  # (1, 1)
        "jobs/{id:int}",  # (1, 2): constrained parameter
        "jobs/{name}.{ext}",  # (1, 2): mixed segment, registration order kept among equals
        "jobs/{id}",  # (1, 3)
        "jobs/{id}/tasks",  # (1, 3, 1)
        "jobs/{*rest:minlength(1)}",  # (1, 4): constrained catch-all
        "jobs/{*rest}",  # (1, 5)
        "{kind}/latest",  # (3, 1): the first segment decides first
    ]
    assert RouteTemplate.parse("jobs/{id:int}/{*rest}").precedence == (1, 2, 5)


def test_first_match_in_precedence_order_picks_the_specific_route():
    routes = sorted(
        (RouteTemplate.parse(t) for t in ["jobs/{*rest}", "jobs/{id}", "jobs/latest", "jobs/{id:int}"]),
        key=lambda r: r.precedence,
    )

    def route_for(path: str) -> tuple[str, dict[str, str]]:
        return next((r.template, values) for r in routes if (values := r.match(path)) is not None)

    assert route_for("jobs/latest") == ("jobs/latest", {})
    assert route_for("jobs/42") == ("jobs/{id:int}", {"id": "42"})
    assert route_for("jobs/abc") == ("jobs/{id}", {"id": "abc"})
    assert route_for("jobs/a/b") == ("jobs/{*rest}", {"rest": "a/b"})


def test_literal_braces():
    assert RouteTemplate.parse("a/{{x}}/{y}").match("a/{x}/1") == {"y": "1"}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a/{*rest}/b", "catch-all parameter must be the last segment"),
        ("a/{x:unknown}", "unknown constraint"),
        ("a/{x:min(a)}", "bad argument to 'min'"),
        ("a/{x:length(1,2,3)}", "wrong number of arguments"),
        ("a/{x:int(1)}", "wrong number of arguments"),
        ("a/{x:regex(()}", "bad argument to 'regex'"),
        ("a/{x:regex(a}", "unclosed '\\('"),
        ("a/{x", "unclosed '{'"),
        ("a/x}", "unmatched '}'"),
        ("a/{}", "bad parameter"),
        ("a/{***x}", "bad parameter"),
        ("a/{x}{y}", "two parameters with nothing between"),
        ("a/{x}/{X}", "appears twice"),
        ("a//b", "empty segment"),
        ("a/{*x?}", "bad parameter"),
        ("a/{x=1?}", "both optional and defaulted"),
        ("a/b?c", "may not contain '\\?'"),
        ("a/{n}.{e?}", "must fill their segment"),
        ("a/x{*rest}", "must fill their segment"),
        ("a/{x?y}", "bad parameter"),
    ],
)
def test_malformed_templates(template, message):
    with pytest.raises(RouteError, match=message):
        RouteTemplate.parse(template)
