"""Tokens of the formula language, each with its 1-based line and column (as Azure reports positions).

Whitespace (newlines included) separates tokens anywhere; `//` comments run to the end of the line
and, per `assumptions.BLOCK_COMMENTS`, `/* ... */` comments may span lines. Strings are double-quoted
with no escapes. Numbers are decimal with an optional exponent (`1e+06`, as results print them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoscale import assumptions
from autoscale.errors import Position, syntax

_BLOCK_COMMENT = r"|/\*.*?\*/|(?P<unclosed>/\*)" if assumptions.BLOCK_COMMENTS else ""
_TOKEN = re.compile(
    rf"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>//[^\n]*{_BLOCK_COMMENT})
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"[^"\n]*")
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/<>!?:;,.()=])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | string | name | op | end
    text: str
    position: Position

    def is_op(self, *texts: str) -> bool:
        return self.kind == "op" and self.text in texts

    def describe(self) -> str:
        return "end of formula" if self.kind == "end" else f"'{self.text}'"


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    line, line_start, i = 1, 0, 0
    while i < len(source):
        position = Position(line, i - line_start + 1)
        m = _TOKEN.match(source, i)
        if m is None or m.groupdict().get("unclosed"):
            raise syntax(_unexpected(source, i), position)
        kind, text = m.lastgroup or "", m.group()
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, text, position))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = i + text.rindex("\n") + 1
        i = m.end()
    tokens.append(Token("end", "", Position(line, i - line_start + 1)))
    return tokens


def _unexpected(source: str, i: int) -> str:
    if source[i] == '"':
        return "Unterminated string: a string must close on its line"
    if source.startswith("/*", i):
        return "Unterminated comment: '/*' has no closing '*/'"
    return f"Unexpected character '{source[i]}'"
