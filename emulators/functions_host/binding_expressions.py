"""The Functions binding-expression language used in binding paths and queue names.

- `%Setting%`: an app setting.
- Blob trigger paths (`photos/{site}/{name}`): a fixed container, then named captures; a capture other
  than the last stays within one path segment, the last may span slashes, as the host matches them.
- Rendering `{name}`, `{a.b}` (JSON properties, dotted), trigger metadata (case-insensitive keys),
  `{rand-guid}`, `{DateTime}` (UTC, `2018-02-16T17-59-55Z`), and `{{`/`}}` for literal braces.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

_SETTING = re.compile(r"%([^%]+)%")
_EXPRESSION = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class BindingExpressionError(ValueError):
    """An expression names a setting or value that does not exist, or a pattern is malformed."""


def resolve_app_settings(text: str, settings: Mapping[str, str]) -> str:
    def setting(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in settings:
            raise BindingExpressionError(f"app setting '{name}' (used as %{name}%) is not defined")
        return settings[name]

    return _SETTING.sub(setting, text)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _lookup(values: Mapping[str, object], dotted: str) -> object:
    current: object = values
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            raise BindingExpressionError(f"binding expression '{{{dotted}}}': '{part}' is not inside an object")
        folded = {str(k).lower(): v for k, v in current.items()}
        if part.lower() not in folded:
            raise BindingExpressionError(f"binding expression '{{{dotted}}}' has no value")
        current = folded[part.lower()]
    return current


def render(template: str, values: Mapping[str, object], *, now: Callable[[], datetime] = _utcnow) -> str:
    """Fill a binding path template from trigger data."""

    def fill(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = m.group(1).strip()
        if name.lower() == "rand-guid":
            return str(uuid.uuid4())
        if name.lower() == "datetime":
            return now().astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        return str(_lookup(values, name))

    return _EXPRESSION.sub(fill, template)


@dataclass(frozen=True)
class BlobPathPattern:
    path: str
    container: str
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, path: str) -> BlobPathPattern:
        container, _, rest = path.strip("/").partition("/")
        if "{" in container or "}" in container or not container:
            raise BindingExpressionError(f"blob path '{path}': the container must be a fixed name")
        pieces = re.split(r"(\{[^{}]+\})", rest)
        captures = [p for p in pieces if p.startswith("{")]
        pattern = ""
        for piece in pieces:
            if piece.startswith("{"):
                name = piece[1:-1]
                if not re.fullmatch(r"[A-Za-z_]\w*", name):
                    raise BindingExpressionError(f"blob path '{path}': bad capture name '{name}'")
                # the last capture may span '/', earlier ones stay within a segment (lazy, so suffixes match)
                body = ".+" if piece is captures[-1] else "[^/]+?"
                pattern += f"(?P<{name}>{body})"
            else:
                pattern += re.escape(piece)
        return cls(path, container, re.compile(f"^{pattern}$" if rest else r"^.+$"))

    def match(self, blob_name: str) -> dict[str, str] | None:
        """Captures for a blob name (without the container), or None when it does not match."""
        m = self.regex.match(blob_name)
        return dict(m.groupdict()) if m else None
