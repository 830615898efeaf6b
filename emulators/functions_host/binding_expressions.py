"""The Functions binding-expression language, as the host resolves binding paths, queue names and schedules.

- `%Name%`: an app setting, substituted first over the whole string. Names match case-insensitively, as the
  host's configuration does; an unknown name or an unclosed `%` is an error.
- Blob trigger paths `container/blob-pattern`: the container is a fixed name; each `{name}` in the blob part
  becomes the host's `(?<name>.*)` capture, so every capture is greedy and may span `/`:
  `photos/{site}/{name}` on `s1/2026/a.jpg` gives site=`s1/2026`, name=`a.jpg`, `{stem}.jpg` on `x.y.jpg`
  gives stem=`x.y`, and `photos/{name}` takes the whole blob name. A path with no `/` matches every blob.
- Rendering: `{name}` from binding data (trigger metadata, path captures, JSON payload properties), looked
  up case-insensitively; `{a.b.c}` walks nested JSON objects; `{name:format}` formats datetimes (.NET custom
  format) and UUIDs (N, D, B, P, X); built-ins `{rand-guid}` and `{DateTime}` (UTC, `2018-02-16T17-59-55Z`),
  which binding data of the same name overrides, and `{sys.randguid}` / `{sys.utcnow}`; `{{` and `}}` are
  literal braces. A JSON null renders as nothing, as in the host. Departure: the host renders a JSON object
  or array as nothing too; here it is an error, since a path built from one is never intended.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[^{}]+|[{}]")
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_EXPRESSION = re.compile(r"(?P<path>[^\W\d]\w*(?:\.[^\W\d][\w-]*)*)(?::(?P<format>.*))?", re.DOTALL)
_BUILTIN = re.compile(r"(?P<name>rand-guid|datetime)(?::(?P<format>.*))?", re.DOTALL | re.IGNORECASE)
_DATETIME_TOKEN = re.compile(r"yyyy|yy|MMMM|MMM|MM|M|dddd|ddd|dd|d|HH|H|hh|h|mm|m|ss|s|f{1,7}|tt|K|zzz|'[^']*'|\\.|.")
_MONTH_NAMES: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
)
_MONTH_NAMES += ("November", "December")
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ROUND_TRIP = "yyyy-MM-ddTHH:mm:ss.fffffffK"
_STANDARD_FORMATS = {"s": "yyyy-MM-ddTHH:mm:ss", "u": "yyyy-MM-dd HH:mm:ssZ", "o": _ROUND_TRIP, "O": _ROUND_TRIP}
_DEFAULT_DATETIME = "yyyy-MM-ddTHH-mm-ssK"


class BindingExpressionError(ValueError):
    """A binding expression is malformed or names a setting or value that does not exist."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _lookup(values: Mapping[str, object], key: str) -> tuple[bool, object]:
    """(found, value): the exact key first, then any key equal ignoring case (binding data is case-insensitive)."""
    if key in values:
        return True, values[key]
    folded = key.casefold()
    for name, value in values.items():
        if str(name).casefold() == folded:
            return True, value
    return False, None


def resolve_app_settings(text: str, settings: Mapping[str, str]) -> str:
    """Replace every `%Name%` with the app setting `Name`."""
    out, i = [], 0
    while (start := text.find("%", i)) >= 0:
        end = text.find("%", start + 1)
        if end < 0:
            raise BindingExpressionError(f"'{text}': the '%' at position {start} has no closing '%'")
        name = text[start + 1 : end]
        found, value = _lookup(settings, name)
        if not found or value is None:
            raise BindingExpressionError(f"app setting '{name}' (used as %{name}% in '{text}') is not defined")
        out += [text[i:start], str(value)]
        i = end + 1
    return "".join([*out, text[i:]])


def _tokens(template: str) -> list[tuple[bool, str]]:
    """(is_expression, text) pieces of a template, with `{{`/`}}` unescaped into literals."""
    tokens: list[tuple[bool, str]] = []
    for m in _TOKEN.finditer(template):
        text = m[0]
        if text in ("{{", "}}"):
            tokens.append((False, text[0]))
        elif m[1] is not None:
            if not m[1]:
                raise BindingExpressionError(f"'{template}': empty expression '{{}}' at position {m.start()}")
            tokens.append((True, m[1]))
        elif text in ("{", "}"):
            missing = "closing '}'" if text == "{" else "opening '{'"
            raise BindingExpressionError(f"'{template}': missing {missing} for the brace at position {m.start()}")
        else:
            tokens.append((False, text))
    return tokens


@dataclass(frozen=True)
class BlobPathPattern:
    """A blob trigger path: a fixed container, then a blob-name pattern with `{name}` captures."""

    path: str
    container: str
    names: tuple[str, ...]
    regex: re.Pattern[str] | None  # None: the path names only a container, so every blob in it matches

    @classmethod
    def parse(cls, path: str) -> BlobPathPattern:
        container, slash, blob = path.partition("/")
        if (slash and not (container and blob)) or not container or "\\" in container:
            raise BindingExpressionError(f"blob path '{path}': paths must be in the format 'container/blob'")
        if "{" in container or "}" in container:
            raise BindingExpressionError(f"blob path '{path}': the container name cannot contain an expression")
        if not slash:
            return cls(path, container, (), None)
        pattern, names = "", list[str]()
        for is_expression, text in _tokens(blob):
            if not is_expression:
                pattern += re.escape(text)
                continue
            if not _IDENTIFIER.fullmatch(text):
                raise BindingExpressionError(f"blob path '{path}': '{{{text}}}' cannot capture; use a plain name")
            if text.casefold() in (n.casefold() for n in names):
                raise BindingExpressionError(f"blob path '{path}': '{{{text}}}' is captured twice")
            pattern += f"(?P<c{len(names)}>.*)"
            names.append(text)
        return cls(path, container, tuple(names), re.compile(pattern))

    def match(self, blob_name: str) -> dict[str, str] | None:
        """Captures for a blob name (without the container), or None when it does not match."""
        if self.regex is None:
            return {}
        m = self.regex.fullmatch(blob_name)
        return None if m is None else {name: m[f"c{i}"] for i, name in enumerate(self.names)}


def render(template: str, values: Mapping[str, object], *, now: Callable[[], datetime] = _utcnow) -> str:
    """Fill a binding template from binding data; `now` is the clock behind `{DateTime}`."""
    return "".join(_evaluate(text, values, now) if is_expr else text for is_expr, text in _tokens(template))


def _evaluate(expression: str, values: Mapping[str, object], now: Callable[[], datetime]) -> str:
    builtin = _BUILTIN.fullmatch(expression)
    if builtin is not None:
        found, value = _lookup(values, builtin["name"])
        if not found:
            value = uuid.uuid4() if builtin["name"].lower() == "rand-guid" else _utc(now())
        return _text(value, builtin["format"], expression)
    m = _EXPRESSION.fullmatch(expression)
    if m is None:
        raise BindingExpressionError(f"'{{{expression}}}' is not a valid binding expression")
    first, *rest = m["path"].split(".")
    found, value = _lookup(values, first)
    if not found and first.lower() == "sys":
        found, value = True, {"randguid": uuid.uuid4(), "utcnow": _utc(now())}
    if not found:
        known = ", ".join(sorted(str(k) for k in values)) or "none"
        raise BindingExpressionError(f"no value for '{first}' in '{{{expression}}}' (binding data has: {known})")
    for part in rest:
        found, value = _lookup(value, part) if isinstance(value, Mapping) else (False, None)
        if not found:
            raise BindingExpressionError(f"'{{{expression}}}': no property '{part}' to read")
    return _text(value, m["format"], expression)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(value: object, fmt: str | None, expression: str) -> str:
    """A value as the host writes it into a path (its ConvertParameterValueToString and JSON ToString)."""
    fmt = fmt if fmt and fmt.strip() else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)  # True/False, as .NET writes a JSON boolean
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value).replace("e", "E")
    if isinstance(value, datetime):
        return _format_datetime(value, fmt or _DEFAULT_DATETIME, expression)
    if isinstance(value, uuid.UUID):
        return _format_guid(value, fmt or "D", expression)
    raise BindingExpressionError(f"'{{{expression}}}' is a {type(value).__name__}, not a value a path can hold")


def _format_guid(value: uuid.UUID, fmt: str, expression: str) -> str:
    h = value.hex
    x = f"{{0x{h[:8]},0x{h[8:12]},0x{h[12:16]},{{{','.join('0x' + h[i : i + 2] for i in range(16, 32, 2))}}}}}"
    forms = {"N": h, "D": str(value), "B": f"{{{value}}}", "P": f"({value})", "X": x}
    if fmt.upper() not in forms:
        raise BindingExpressionError(f"'{{{expression}}}': '{fmt}' is not a UUID format (N, D, B, P or X)")
    return forms[fmt.upper()]


def _format_datetime(value: datetime, fmt: str, expression: str) -> str:
    """.NET custom date format: the common specifiers; quoted text and `\\x` escapes are literal."""
    if len(fmt) == 1:  # a one-letter format is a .NET standard format
        if fmt not in _STANDARD_FORMATS:
            raise BindingExpressionError(f"'{{{expression}}}': standard date format '{fmt}' is not supported")
        fmt = _STANDARD_FORMATS[fmt]
    offset = value.utcoffset()
    if offset is None:
        zone = ""
    else:
        minutes = int(offset.total_seconds()) // 60
        zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    fields = {
        "yyyy": f"{value.year:04d}",
        "yy": f"{value.year % 100:02d}",
        "MMMM": _MONTH_NAMES[value.month - 1],
        "MMM": _MONTH_NAMES[value.month - 1][:3],
        "MM": f"{value.month:02d}",
        "M": str(value.month),
        "dddd": _DAY_NAMES[value.weekday()],
        "ddd": _DAY_NAMES[value.weekday()][:3],
        "dd": f"{value.day:02d}",
        "d": str(value.day),
        "HH": f"{value.hour:02d}",
        "H": str(value.hour),
        "hh": f"{(value.hour - 1) % 12 + 1:02d}",
        "h": str((value.hour - 1) % 12 + 1),
        "mm": f"{value.minute:02d}",
        "m": str(value.minute),
        "ss": f"{value.second:02d}",
        "s": str(value.second),
        "tt": "AM" if value.hour < 12 else "PM",
        "K": "Z" if offset is not None and not offset else zone,
        "zzz": zone or "+00:00",
    }
    out = []
    for token in _DATETIME_TOKEN.findall(fmt):
        if token.startswith("f"):
            out.append(f"{value.microsecond:06d}0"[: len(token)])
        elif token.startswith("'") or (token.startswith("\\") and len(token) == 2):
            out.append(token.strip("'") if token.startswith("'") else token[1])
        else:
            out.append(fields.get(token, token))
    return "".join(out)
