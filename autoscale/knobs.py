"""A formula's knobs: the `name = number;` lines at its top, set for a run or a deployment.

    knobs(text)                       {"maxNodes": 4.0, ...} in the order they appear
    with_knobs(text, {"maxNodes": 8}) the same text with those lines' numbers replaced

Bicep substitutes the same lines at deployment (`replace()` of each `name = default;`), the local stack
and the simulator call `with_knobs`, so the text that runs is the text that was checked.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_KNOB = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*) = (?P<value>-?[0-9]+(?:\.[0-9]+)?);", re.MULTILINE)


class KnobError(ValueError):
    pass


def knobs(text: str) -> dict[str, float]:
    return {m["name"]: float(m["value"]) for m in _KNOB.finditer(text)}


def knob_line(name: str, value: float) -> str:
    return f"{name} = {value:g};"


def with_knobs(text: str, values: Mapping[str, float]) -> str:
    """Raises KnobError for a name that is not a knob of `text`."""
    known = knobs(text)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise KnobError(f"not a knob of this formula: {', '.join(unknown)} (knobs: {', '.join(known) or 'none'})")

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        return knob_line(name, values[name]) if name in values else match[0]

    return _KNOB.sub(replace, text)


def parse_assignment(text: str) -> tuple[str, float]:
    """`NAME=VALUE` from the command line."""
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name.strip() or not math.isfinite(number):
        raise KnobError(f"expected NAME=NUMBER, not {text!r}")
    return name.strip(), number
