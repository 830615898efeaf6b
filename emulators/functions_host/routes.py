"""ASP.NET-style route templates, as the Functions host matches HTTP trigger routes.

Segments: literals (case-insensitive), `{name}`, `{name:constraint}` (int, long, bool, guid, alpha,
double, decimal, datetime-free subset), `{name?}` (optional, last segments only), `{name=default}`,
and `{*name}` (catch-all, last segment). Values come back URL-decoded. `precedence` orders templates the
way ASP.NET does: literal segments before parameters, constrained before unconstrained, catch-alls last.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_PARAM = re.compile(
    r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][\w-]*)(?::(?P<constraint>[a-z]+))?(?P<opt>\?)?(?:=(?P<default>[^}]*))?\}$"
)
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
}


class RouteError(ValueError):
    """The route template is malformed."""


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None
    name: str = ""
    pattern: str = r"[^/]+"
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    @property
    def rank(self) -> int:
        if self.literal is not None:
            return 0
        if self.catch_all:
            return 3
        return 1 if self.pattern != r"[^/]+" else 2


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    segments: tuple[_Segment, ...]
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        raw = [s for s in template.strip("/").split("/") if s != ""] if template.strip("/") else []
        segments = tuple(_segment(s, i == len(raw) - 1, template) for i, s in enumerate(raw))
        seen_optional = False
        for seg in segments:
            if seen_optional and not (seg.optional or seg.catch_all):
                raise RouteError(f"route '{template}': only trailing parameters may be optional")
            seen_optional = seen_optional or seg.optional
        pattern = "".join(_regex(seg) for seg in segments)
        return cls(template, segments, re.compile(f"^{pattern}/?$", re.IGNORECASE))

    @property
    def precedence(self) -> tuple[int, ...]:
        """Sort key: smaller sorts first (more specific)."""
        return (*(seg.rank for seg in self.segments), 9 - len(self.segments))

    def match(self, path: str) -> dict[str, str] | None:
        m = self.regex.match("/" + path.strip("/") if path.strip("/") else "")
        if m is None:
            return None
        values: dict[str, str] = {}
        for seg in self.segments:
            if seg.literal is not None:
                continue
            value = m.group(seg.name)
            if value is not None and value != "":
                values[seg.name] = unquote(value)
            elif seg.default is not None:
                values[seg.name] = seg.default
        return values


def _segment(text: str, last: bool, template: str) -> _Segment:
    if "{" not in text and "}" not in text:
        return _Segment(literal=text)
    m = _PARAM.match(text)
    if m is None:
        raise RouteError(f"route '{template}': cannot parse segment '{text}'")
    constraint = m["constraint"]
    if constraint and constraint not in _CONSTRAINTS:
        raise RouteError(f"route '{template}': unknown constraint '{constraint}'")
    if (m["star"] or m["opt"]) and not last:
        raise RouteError(f"route '{template}': '{text}' must be the last segment")
    return _Segment(
        name=m["name"],
        pattern=_CONSTRAINTS[constraint] if constraint else r"[^/]+",
        optional=bool(m["opt"]) or m["default"] is not None,
        default=m["default"],
        catch_all=bool(m["star"]),
    )


def _regex(seg: _Segment) -> str:
    if seg.literal is not None:
        return "/" + re.escape(seg.literal)
    if seg.catch_all:
        return f"(?:/(?P<{seg.name}>.*))?"
    body = f"/(?P<{seg.name}>{seg.pattern})"
    return f"(?:{body})?" if seg.optional else body
