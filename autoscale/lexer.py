"""Tokens of the formula language, with line and column (1-based, as Azure reports them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from autoscale.errors import Position, syntax

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"[^"\n]*")
  | (?P<name>\$?[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/<>!?:;,.()=\[\]])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # number | string | name | op | end
    text: str
    position: Position


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    line, line_start, i = 1, 0, 0
    while i < len(source):
        m = _TOKEN.match(source, i)
        position = Position(line, i - line_start + 1)
        if m is None:
            raise syntax(f"Unexpected character '{source[i]}'", position)
        kind = m.lastgroup or ""
        text = m.group()
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, text, position))
        newlines = text.count("\n")
        if newlines:
            line += newlines
            line_start = i + text.rindex("\n") + 1
        i = m.end()
    tokens.append(Token("end", "", Position(line, i - line_start + 1)))
    return tokens
