"""The HTTP API's one JSON request-body parser, and typed readers for the fields inside it.

Every API module reads its body through `json_object`: the size is checked before a byte is parsed, and
everything that can go wrong while parsing (malformed text, bad UTF-8, nesting deep enough to exhaust the
recursion limit, numbers too long to convert, NaN/Infinity, a member named twice, unpaired surrogates)
becomes one 400 `invalid_json`, never an exception that escapes as a 500. Members a request does not
define are ignored; the ones it reads go through `text` / `string_list`, which check type and length.

A body must come with `Content-Length`. In Azure the Functions host hands the worker a request's body only
when its Content-Length is over 0 (azure-functions-host, GrpcMessageConversionExtensions; Azure/Azure-Functions
issue 1785), so a body sent with `Transfer-Encoding: chunked` reaches the app as no bytes at all.
`lost_in_transit` tells such a request apart, and function_app.py answers it 411 `length_required` on the
routes that read a body, rather than read it as `{}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from shared.errors import InvalidInput

INVALID_JSON = "invalid_json"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls but tab, LF, CR; and DEL


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6); Python's parser accepts them unless told otherwise.
    raise ValueError(f"{name} is not a JSON number")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A member given twice means whatever the last parser says: refuse rather than pick one.
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError("a member name appears twice")
    return doc


def lost_in_transit(raw: bytes, headers: Mapping[str, str]) -> bool:
    """Whether the body arrived empty from a request that framed one with Transfer-Encoding: whatever it held,
    the host dropped it (see above), so the app cannot tell an empty body from a lost one."""
    return not raw and any(name.lower() == "transfer-encoding" for name in headers)


def json_object(raw: bytes, *, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object (an empty body is `{}`), or InvalidInput `invalid_json`."""
    if len(raw) > max_bytes:
        raise InvalidInput(f"the body is larger than {max_bytes} bytes", reason=INVALID_JSON)
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw, parse_constant=_no_constants, object_pairs_hook=_unique_members)
        # Unpaired surrogates (\ud800) parse into a str no encoder accepts; storage would fail on them later.
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except RecursionError as exc:
        raise InvalidInput("the body is nested too deeply", reason=INVALID_JSON) from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError/UnicodeEncodeError are ValueErrors
        raise InvalidInput(f"the body is not valid JSON: {exc}", reason=INVALID_JSON) from exc
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON object", reason=INVALID_JSON)
    return doc


def text(doc: dict[str, Any], name: str, *, max_chars: int, reason: str, min_chars: int = 0) -> str | None:
    """Member `name` as a string of `min_chars`..`max_chars` characters without control characters;
    None when absent or null."""
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string, not {_kind(value)}", reason=reason)
    if not min_chars <= len(value) <= max_chars:
        raise InvalidInput(f"'{name}' must be {min_chars}-{max_chars} characters, not {len(value)}", reason=reason)
    if CONTROL.search(value):
        raise InvalidInput(f"'{name}' holds a control character", reason=reason)
    return value


def string_list(doc: dict[str, Any], name: str, *, max_items: int, max_chars: int, reason: str) -> list[str] | None:
    """Member `name` as a list of at most `max_items` strings of at most `max_chars`; None when absent or null."""
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInput(f"'{name}' must be a list of strings, not {_kind(value)}", reason=reason)
    if len(value) > max_items:
        raise InvalidInput(f"'{name}' may hold at most {max_items} items, not {len(value)}", reason=reason)
    if not all(isinstance(item, str) and len(item) <= max_chars for item in value):
        raise InvalidInput(f"'{name}' must hold strings of at most {max_chars} characters", reason=reason)
    return list(value)


def _kind(value: object) -> str:
    """The JSON name of a parsed value's type, for error details."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "null"
