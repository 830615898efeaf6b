"""Photo arrival traces: read one (CSV, column `t` in seconds from the start), or generate the references.

    read_trace(path)            sorted arrival times; TraceError names the line of bad input
    REFERENCES[name](seed)      a reference trace, the same for the same seed
    write_trace(path, rows)     CSV with `t` and `site`

The references (times UTC, working hours 07:00-18:00):
- `field-day`: six crews, each sending 3-5 bursts of 20-150 photos over 2-10 minutes in working hours;
- `month-end`: 36,000 photos over two hours from 09:00 (5 per second), then 300 spread over the day;
- `trickle`: 400 photos at random through the working day (one every 100 s on average);
- `night-then-morning`: 12 photos through the night, then 600 photos between 07:00 and 07:30.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterable
from pathlib import Path

HOUR = 3600.0
WORK_START, WORK_END = 7 * HOUR, 18 * HOUR


class TraceError(ValueError):
    pass


def read_trace(path: Path) -> list[float]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or "t" not in [h.strip() for h in header]:
                raise TraceError(f"{path}: line 1: the header must name a column 't'")
            column = [h.strip() for h in header].index("t")
            times = []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue
                times.append(_seconds(path, reader.line_num, row, column))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TraceError(f"{path}: {exc}") from exc
    return sorted(times)


def _seconds(path: Path, line: int, row: list[str], column: int) -> float:
    text = row[column].strip() if column < len(row) else ""
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{path}: line {line}: t must be a number of seconds, not {text!r}") from None
    if not 0 <= value < float("inf"):
        raise TraceError(f"{path}: line {line}: t must be a finite number of seconds from the start, not {text!r}")
    return value


def write_trace(path: Path, rows: Iterable[tuple[float, str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["t", "site"])
        writer.writerows((f"{t:.1f}", site) for t, site in ordered)
    return len(ordered)


def _burst(rng: random.Random, start: float, photos: int, duration: float, site: str) -> list[tuple[float, str]]:
    return [(start + rng.uniform(0, duration), site) for _ in range(photos)]


def field_day(seed: int) -> list[tuple[float, str]]:
    rng = random.Random(seed)
    rows: list[tuple[float, str]] = []
    for crew in range(6):
        for _ in range(rng.randint(3, 5)):
            start = rng.uniform(WORK_START, WORK_END - 900)
            rows += _burst(rng, start, rng.randint(20, 150), rng.uniform(120, 600), f"site-{crew}")
    return rows


def month_end(seed: int) -> list[tuple[float, str]]:
    rng = random.Random(seed)
    rows = _burst(rng, 9 * HOUR, 36_000, 2 * HOUR, "month-end")
    return rows + [(rng.uniform(11 * HOUR, 24 * HOUR - 1), f"site-{rng.randrange(20)}") for _ in range(300)]


def trickle(seed: int) -> list[tuple[float, str]]:
    rng = random.Random(seed)
    return [(rng.uniform(WORK_START, WORK_END), f"site-{rng.randrange(6)}") for _ in range(400)]


def night_then_morning(seed: int) -> list[tuple[float, str]]:
    rng = random.Random(seed)
    night = [(rng.uniform(0, 6 * HOUR), "night-shift") for _ in range(12)]
    return night + _burst(rng, WORK_START, 600, 1800, "morning")


REFERENCES: dict[str, Callable[[int], list[tuple[float, str]]]] = {
    "field-day": field_day,
    "month-end": month_end,
    "trickle": trickle,
    "night-then-morning": night_then_morning,
}
# Traces the tuned formula must serve within the bars; the trickle only states its trade-off.
BURSTS = ("field-day", "month-end", "night-then-morning")
