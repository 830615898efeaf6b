"""ASP.NET Core route templates, matched the way the Functions host routes HTTP triggers.

A template is `/`-separated segments. A segment is a literal (matched case-insensitively; `{{` and `}}` are
literal braces), a parameter, or a mix (`{name}.{ext}`: parameters capture greedily, as ASP.NET's
right-to-left matching does). Parameters: `{id}`; constraints `{id:int}`, chained `{id:int:min(1)}`
(int, long, bool, guid, alpha, double, float, decimal, datetime, min, max, range, length, minlength,
maxlength, regex, required); optional `{id?}`; default `{page=1}`; catch-all `{*rest}` or `{**rest}` (last
segment only). Segments match by position: a path may stop early only where every remaining segment is
optional, has a default, or is a catch-all.

`match` takes the raw, still percent-encoded request path (the host's templates start with the route prefix).
Values come back decoded, except `%2F`, which stays encoded as Kestrel leaves it, so a value never gains a `/`.

`precedence` is ASP.NET Core's inbound precedence, a digit per segment: 1 literal, 2 constrained parameter or
mixed segment, 3 parameter, 4 constrained catch-all, 5 catch-all. The Functions host orders routes by it,
ascending, keeping registration order among equals (a stable sort, as `sorted` is).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

_SLASH = re.compile(r"(%2[Ff])")
_CONSTRAINT = re.compile(r"[A-Za-z]+")
_ENDS = ("", ":", "?", "=")
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
_ALPHA = re.compile(r"[A-Za-z]*")
# .NET's invariant number parsing: sign, thousands separators, surrounding spaces; decimals take no exponent
_DECIMAL = r"\s*[+-]?(?:[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)"
_DOUBLE = re.compile(_DECIMAL + r"(?:[eE][+-]?[0-9]+)?\s*|\s*(?:[+-]?infinity|nan)\s*", re.IGNORECASE)


class RouteError(ValueError):
    """The route template is malformed."""


def _integer(value: str, bits: int = 64) -> int | None:
    """The value as .NET's int/long TryParse reads it (sign, surrounding spaces), or None when out of range."""
    if not _INTEGER.fullmatch(value):
        return None
    number = int(value)
    return number if -(2 ** (bits - 1)) <= number < 2 ** (bits - 1) else None


def _is_guid(value: str) -> bool:
    text = value.strip()
    if len(text) == 38 and text[0] + text[-1] in ("{}", "()"):
        text = text[1:-1]
    if len(text) not in (32, 36) or (len(text) == 36 and [len(p) for p in text.split("-")] != [8, 4, 4, 4, 12]):
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


def _between(value: str, low: int | None, high: int | None) -> bool:
    number = _integer(value)
    return number is not None and (low is None or number >= low) and (high is None or number <= high)


_Check = Callable[[str, tuple[str, ...]], bool]
# name -> (allowed argument counts, check of a decoded value)
_CONSTRAINTS: dict[str, tuple[tuple[int, ...], _Check]] = {
    "int": ((0,), lambda v, _: _integer(v, 32) is not None),
    "long": ((0,), lambda v, _: _integer(v) is not None),
    "bool": ((0,), lambda v, _: v.strip().lower() in ("true", "false")),
    "guid": ((0,), lambda v, _: _is_guid(v)),
    "alpha": ((0,), lambda v, _: bool(_ALPHA.fullmatch(v))),
    "double": ((0,), lambda v, _: bool(_DOUBLE.fullmatch(v))),
    "float": ((0,), lambda v, _: bool(_DOUBLE.fullmatch(v))),
    "decimal": ((0,), lambda v, _: bool(re.fullmatch(_DECIMAL + r"\s*", v))),
    "datetime": ((0,), lambda v, _: _is_datetime(v)),
    "required": ((0,), lambda v, _: v != ""),
    "min": ((1,), lambda v, a: _between(v, int(a[0]), None)),
    "max": ((1,), lambda v, a: _between(v, None, int(a[0]))),
    "range": ((2,), lambda v, a: _between(v, int(a[0]), int(a[1]))),
    "minlength": ((1,), lambda v, a: len(v) >= int(a[0])),
    "maxlength": ((1,), lambda v, a: len(v) <= int(a[0])),
    "length": ((1, 2), lambda v, a: int(a[0]) <= len(v) <= int(a[-1]) if len(a) == 2 else len(v) == int(a[0])),
    # ASP.NET's regex constraint is unanchored and case-insensitive; templates anchor with ^ and $ themselves
    "regex": ((1,), lambda v, a: re.search(a[0], v, re.IGNORECASE) is not None),
}


@dataclass(frozen=True)
class _Param:
    name: str
    constraints: tuple[tuple[str, tuple[str, ...]], ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False

    def accepts(self, value: str) -> bool:
        return all(_CONSTRAINTS[name][1](value, args) for name, args in self.constraints)

    @property
    def omissible(self) -> bool:
        return self.optional or self.default is not None or self.catch_all


@dataclass(frozen=True)
class _Segment:
    parts: tuple[str | _Param, ...]
    regex: re.Pattern[str] | None  # mixed segments only

    @property
    def param(self) -> _Param | None:
        """The parameter when it is the whole segment."""
        only = self.parts[0]
        return only if len(self.parts) == 1 and isinstance(only, _Param) else None

    def bind(self, value: str, values: dict[str, str]) -> bool:
        """Match one decoded path segment, recording the parameters it captures."""
        if self.param is not None:
            return _bind(self.param, value, values)
        if self.regex is not None:
            found = self.regex.fullmatch(value)
            params = [p for p in self.parts if isinstance(p, _Param)]
            return found is not None and all(_bind(p, found[f"p{n}"], values) for n, p in enumerate(params))
        return value.lower() == str(self.parts[0]).lower()

    @property
    def digit(self) -> int:
        if len(self.parts) > 1:
            return 2
        if self.param is None:
            return 1
        return (5 if self.param.catch_all else 3) - bool(self.param.constraints)


@dataclass(frozen=True)
class RouteTemplate:
    template: str
    segments: tuple[_Segment, ...]
    precedence: tuple[int, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        """Parse a template; leading and trailing slashes are ignored."""
        trimmed = template.strip("/")
        segments = tuple(_segment(text, template) for text in trimmed.split("/")) if trimmed else ()
        params = [p for s in segments for p in s.parts if isinstance(p, _Param)]
        names = [p.name.lower() for p in params]
        if len(set(names)) != len(names):
            raise RouteError(f"route '{template}': a parameter name appears twice")
        if any(p.catch_all for s in segments[:-1] for p in s.parts if isinstance(p, _Param)):
            raise RouteError(f"route '{template}': a catch-all parameter must be the last segment")
        return cls(template, segments, tuple(s.digit for s in segments))

    def match(self, path: str) -> dict[str, str] | None:
        """Route values for a raw request path (no query string), or None when it does not match. Segments are
        ASP.NET's (PathTokenizer): one trailing '/' ignored, an empty one ('//') kept and matched by nothing; a
        catch-all takes the rest of the path as it is, a trailing '/' included."""
        raw = (path[1:] if path.startswith("/") else path).split("/")
        pieces = raw[:-1] if raw[-1] == "" else raw
        values: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            param = segment.param
            if i >= len(pieces):  # the path ended: only omissible parameters may remain
                if param is None or not _bind(param, "", values):
                    return None
            elif pieces[i] == "":
                return None
            elif param is not None and param.catch_all:
                rest = "/".join(_decode(p) for p in raw[i:])
                return values if _bind(param, rest, values) else None
            elif not segment.bind(_decode(pieces[i]), values):
                return None
        return values if len(pieces) <= len(self.segments) else None


def _bind(param: _Param, value: str, values: dict[str, str]) -> bool:
    """Record a parameter's value; an absent value is fine only for omissible parameters."""
    if value == "":
        if param.default is not None:
            values[param.name] = param.default
        return param.omissible
    if not param.accepts(value):
        return False
    values[param.name] = value
    return True


def _decode(raw: str) -> str:
    return "".join(p if _SLASH.fullmatch(p) else unquote(p) for p in _SLASH.split(raw))


def _segment(text: str, template: str) -> _Segment:
    parts = _parts(text, template)
    if not parts:
        raise RouteError(f"route '{template}': empty segment ('//')")
    if any(isinstance(p, str) and "?" in p for p in parts):
        raise RouteError(f"route '{template}': literal '{text}' may not contain '?'")
    if len(parts) == 1:
        return _Segment(tuple(parts), None)
    if any(isinstance(p, _Param) and (p.catch_all or p.optional) for p in parts):
        raise RouteError(f"route '{template}': catch-all and optional parameters must fill their segment")
    pattern, n = "", 0
    for part in parts:
        if isinstance(part, str):
            pattern += re.escape(part)
        else:
            pattern, n = pattern + f"(?P<p{n}>.+)", n + 1
    return _Segment(tuple(parts), re.compile(pattern, re.IGNORECASE | re.DOTALL))


def _parts(text: str, template: str) -> list[str | _Param]:
    """Split a segment into literals (braces unescaped) and parameters."""
    parts: list[str | _Param] = []
    literal, i = "", 0
    while i < len(text):
        if text.startswith(("{{", "}}"), i):
            literal, i = literal + text[i], i + 2
        elif text[i] == "}":
            raise RouteError(f"route '{template}': unmatched '}}' in segment '{text}'")
        elif text[i] == "{":
            if not literal and parts and isinstance(parts[-1], _Param):
                raise RouteError(f"route '{template}': segment '{text}' has two parameters with nothing between")
            i, body = _parameter_body(text, i + 1, template)
            parts += [literal, _param(body, template)] if literal else [_param(body, template)]
            literal = ""
        else:
            literal, i = literal + text[i], i + 1
    return [*parts, literal] if literal else parts


def _parameter_body(text: str, start: int, template: str) -> tuple[int, str]:
    """The end index and unescaped body of the parameter opened just before `start`."""
    body, i = "", start
    while i < len(text):
        if text.startswith(("{{", "}}"), i):  # doubled braces inside a parameter, as in regex(\\d{{3}})
            body, i = body + text[i], i + 2
        elif text[i] == "}":
            return i + 1, body
        elif text[i] == "{":
            break
        else:
            body, i = body + text[i], i + 1
    raise RouteError(f"route '{template}': unclosed '{{' in segment '{text}'")


def _param(body: str, template: str) -> _Param:
    stars = len(body) - len(body.lstrip("*"))
    rest = body[stars:]
    name = re.split(r"[:?=]", rest, maxsplit=1)[0]
    if stars > 2 or not name or any(c in name for c in "{}/*"):
        raise RouteError(f"route '{template}': bad parameter '{{{body}}}'")
    i, constraints = len(name), []
    while i < len(rest) and rest[i] == ":":
        head = _CONSTRAINT.match(rest, i + 1)
        if head is None or head[0].lower() not in _CONSTRAINTS:
            raise RouteError(f"route '{template}': unknown constraint in '{{{body}}}'")
        kind, i = head[0].lower(), head.end()
        args: tuple[str, ...] = ()
        if rest.startswith("(", i):
            # the closing ')' is the first one that ends the parameter or precedes the next token
            close = next((j for j in range(i, len(rest)) if rest[j] == ")" and rest[j + 1 : j + 2] in _ENDS), -1)
            if close < 0:
                raise RouteError(f"route '{template}': unclosed '(' in '{{{body}}}'")
            raw = rest[i + 1 : close]
            args, i = ((raw,) if kind == "regex" else tuple(a.strip() for a in raw.split(","))), close + 1
        constraints.append((kind, _checked_args(kind, args, body, template)))
    optional, default = rest.startswith("?", i), None
    if rest.startswith("=", i):
        default, i = rest[i + 1 :], len(rest)
        if default.endswith("?"):
            raise RouteError(f"route '{template}': '{{{body}}}' is both optional and defaulted")
    i += optional
    if i != len(rest) or (stars and optional):
        raise RouteError(f"route '{template}': bad parameter '{{{body}}}'")
    return _Param(name, tuple(constraints), optional, default, bool(stars))


def _checked_args(kind: str, args: tuple[str, ...], body: str, template: str) -> tuple[str, ...]:
    if len(args) not in _CONSTRAINTS[kind][0]:
        raise RouteError(f"route '{template}': constraint '{kind}' in '{{{body}}}' has the wrong number of arguments")
    try:
        if kind == "regex":
            re.compile(args[0])
        else:
            [int(a) for a in args]
    except (re.error, ValueError) as e:
        raise RouteError(f"route '{template}': bad argument to '{kind}' in '{{{body}}}': {e}") from None
    return args
