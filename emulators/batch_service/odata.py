"""The OData query options Batch lists accept: `$filter`, `$select`, `maxresults` and `$skiptoken` paging.

`$filter` is the subset Batch documents for its lists: comparisons (`eq ne gt ge lt le`) of a property
path (`state`, `executionInfo/result`) with a quoted string, a number or `true`/`false`, the function
`startswith(path, 'prefix')`, `and`, `or`, `not` and parentheses. String comparisons are exact, as
enum values on the wire are lower-case. Anything else is 400 `InvalidQueryParameterValue`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from emulators.batch_service.wire import BatchError

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]
MAX_PAGE = 1000
_TOKEN = re.compile(r"\s*(?:(\()|(\))|(,)|'((?:[^']|'')*)'|([A-Za-z_$][\w$/.]*)|(-?\d+(?:\.\d+)?))")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
}  # fmt: skip


def _bad(option: str, value: str, reason: str) -> BatchError:
    return BatchError(
        "InvalidQueryParameterValue",
        values={"QueryParameterName": option, "QueryParameterValue": value, "Reason": reason},
    )


def field(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, Any]] = []
        pos = 0
        while pos < len(text.rstrip()):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise _bad("$filter", text, f"unexpected text at position {pos}")
            kinds = ("(", ")", ",", "str", "name", "num")
            kind = next(k for k, g in zip(kinds, m.groups(), strict=True) if g is not None)
            raw = m.group(kinds.index(kind) + 1)
            value: Any = raw.replace("''", "'") if kind == "str" else float(raw) if kind == "num" else raw
            self.tokens.append((kind, value))
            pos = m.end()
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        kind, v = self.tokens[self.i]
        return value is None or (kind == "name" and v == value) or (kind == value)

    def take(self, what: str) -> Any:
        if self.i >= len(self.tokens):
            raise _bad("$filter", self.text, f"expected {what} at the end")
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, kind: str) -> Any:
        got, value = self.take(kind)
        if got != kind:
            raise _bad("$filter", self.text, f"expected {kind}, found {value!r}")
        return value

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.i != len(self.tokens):
            raise _bad("$filter", self.text, f"unexpected {self.tokens[self.i][1]!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.peek("or"):
            self.i += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda d: any(p(d) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek("and"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda d: all(p(d) for p in parts)

    def unary(self) -> Predicate:
        if self.peek("not"):
            self.i += 1
            inner = self.unary()
            return lambda d: not inner(d)
        if self.peek("("):
            self.i += 1
            inner = self.disjunction()
            self.expect(")")
            return inner
        if self.peek("startswith"):
            self.i += 1
            self.expect("(")
            path = self.expect("name")
            self.expect(",")
            prefix = self.expect("str")
            self.expect(")")
            return lambda d: str(field(d, path) or "").startswith(prefix)
        return self.comparison()

    def comparison(self) -> Predicate:
        path: str = self.expect("name")
        op: str = self.expect("name")
        if op not in _COMPARE:
            raise _bad("$filter", self.text, f"unsupported operator {op!r}")
        kind, literal = self.take("a value")
        if kind == "name" and literal in ("true", "false"):
            literal = literal == "true"
        elif kind not in ("str", "num"):
            raise _bad("$filter", self.text, f"expected a value after {op}, found {literal!r}")
        compare = _COMPARE[op]

        def test(doc: Doc) -> bool:
            value = field(doc, path)
            if value is None or isinstance(literal, (int, float)) != isinstance(value, (int, float)):
                return op == "ne"
            return bool(compare(value, literal))

        return test


def predicate(text: str | None) -> Predicate:
    if not text or not text.strip():
        return lambda _d: True
    return _Parser(text).parse()


def select(doc: Doc, text: str | None) -> Doc:
    """The public fields of `doc` (internal ones start with `_`), limited to `$select` when given."""
    if not text:
        return {k: v for k, v in doc.items() if not k.startswith("_")}
    wanted = {s.strip() for s in text.split(",")}
    return {k: v for k, v in doc.items() if k in wanted}


def page_bounds(query: dict[str, str]) -> tuple[int, int]:
    """(start, size) from `$skiptoken` and `maxresults` (at most 1000 per page, as the service)."""
    try:
        size = int(query.get("maxresults", MAX_PAGE))
        start = int(query.get("$skiptoken", 0))
    except ValueError as exc:
        raise _bad("maxresults", query.get("maxresults", ""), "not an integer") from exc
    if not 1 <= size <= MAX_PAGE:
        raise _bad("maxresults", str(size), f"must be between 1 and {MAX_PAGE}")
    return max(start, 0), size
