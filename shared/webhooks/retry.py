"""What to do after an attempt: done, retry when, or give up (Standard Webhooks status handling).

`SCHEDULE` is the delay after each failed attempt (±`JITTER`): ten attempts over about 75 hours, a little
more than three days, as the spec's example. docs/webhooks.md states it; a test keeps the two equal.
2xx ends it; 410 disables the subscription; 429/502/504 are throttling and honour `Retry-After` as a
minimum, up to `MAX_RETRY_AFTER`; 3xx is a failure (redirects are never followed); anything else,
timeouts included, retries.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
MAX_RETRY_AFTER = max(SCHEDULE)  # a receiver may not park a delivery longer than the schedule's longest wait
_MAX_SECONDS_DIGITS = 9  # more than MAX_RETRY_AFTER in seconds; a longer number is capped unread
JITTER = 0.1


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"  # 410: the receiver asked us to stop; the subscription is disabled
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    next_attempt_at: datetime | None = None


def retry_after(headers: Mapping[str, str], now: datetime) -> timedelta | None:
    """The receiver's `Retry-After` (seconds or an HTTP date) as a delay of at most `MAX_RETRY_AFTER`;
    None when absent or unreadable. Never raises: the value is the receiver's, anything at all."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # str.isdigit alone also takes "²" and other scripts' digits
        if len(text) > _MAX_SECONDS_DIGITS:
            return MAX_RETRY_AFTER
        return min(MAX_RETRY_AFTER, timedelta(seconds=int(text)))
    try:
        when = parsedate_to_datetime(text)
        # An HTTP date is in GMT, but asctime's form and a "-0000" zone parse without one: naive, which astimezone
        # would read as this machine's local time, off by its offset.
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(MAX_RETRY_AFTER, max(timedelta(0), when - now))


def decide(
    attempt: int,
    status: int | None,
    headers: Mapping[str, str],
    now: datetime,
    rng: random.Random | None = None,
    *,
    scale: float = 1.0,
) -> Decision:
    """`attempt` is 1-based: the attempt that just ended with `status` (None = no answer). `scale` multiplies
    the schedule's delay (a receiver's Retry-After still holds in full)."""
    if status is not None and 200 <= status < 300:
        return Decision(Outcome.DELIVERED)
    if status == 410:
        return Decision(Outcome.GONE)
    if attempt >= MAX_ATTEMPTS:
        return Decision(Outcome.EXHAUSTED)
    delay = SCHEDULE[attempt - 1] * scale * (1 + (rng or random.Random()).uniform(-JITTER, JITTER))
    if status in (429, 502, 504):
        asked = retry_after(headers, now)
        if asked is not None:
            delay = max(delay, asked)
    return Decision(Outcome.RETRY, now + delay)
