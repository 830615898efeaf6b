from __future__ import annotations

import pytest

from emulators.functions_host.routes import RouteError, RouteTemplate


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("jobs/{job_id}", "jobs/j-1", {"job_id": "j-1"}),
        ("jobs/{job_id}", "JOBS/a%20b", {"job_id": "a b"}),  # literals case-insensitive; values decoded
        ("jobs/{job_id}", "jobs/j-1/extra", None),
        ("jobs/{id:int}", "jobs/42", {"id": "42"}),
        ("jobs/{id:int}", "jobs/x", None),
        (
            "items/{id:guid}",
            "items/0f8fad5b-d9cb-469f-a165-70867728950e",
            {"id": "0f8fad5b-d9cb-469f-a165-70867728950e"},
        ),
        ("a/{x:alpha}", "a/abc1", None),
        ("files/{name?}", "files", {}),
        ("files/{name?}", "files/x", {"name": "x"}),
        ("list/{page=1}", "list", {"page": "1"}),
        ("static/{*rest}", "static/a/b/c.css", {"rest": "a/b/c.css"}),
        ("static/{*rest}", "static", {}),
        ("/health/", "health", {}),
    ],
)
def test_match(template, path, expected):
    assert RouteTemplate.parse(template).match(path) == expected


def test_precedence_puts_literals_before_params_before_catch_alls():
    templates = ["jobs/{*rest}", "jobs/{id}", "jobs/{id:int}", "jobs/latest"]
    ordered = sorted((RouteTemplate.parse(t) for t in templates), key=lambda r: r.precedence)
    assert [r.template for r in ordered] == ["jobs/latest", "jobs/{id:int}", "jobs/{id}", "jobs/{*rest}"]


@pytest.mark.parametrize("template", ["a/{*rest}/b", "a/{x?}/b", "a/{x:unknown}", "a/{x", "a/{1x}"])
def test_malformed_templates(template):
    with pytest.raises(RouteError):
        RouteTemplate.parse(template)
