"""Webhook domain values: subscriptions, events (the outbox) and per-subscription deliveries."""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared import request_body
from shared.errors import InvalidInput
from shared.uploads.naming import ID

EVENT_TYPES = frozenset({"job.succeeded", "job.failed", "job.rejected"})
ALL_SITES = "*"
MAX_URL_CHARS = 2048  # what browsers and proxies reliably carry; Table storage would take at most 32K
MAX_EVENT_TYPES = 16
MAX_EVENT_TYPE_CHARS = 64
SUBSCRIPTION_ID = re.compile(r"sub_[0-9a-f]{32}")
EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # evt_{job id}_{state}; any Table-storage-safe key
# A delivery keeps its first attempts (the schedule's run, when it first failed) and its latest ones, and each
# attempt's error at most this long: replays may go on forever, yet the row's attempts property (at most 32K
# UTF-16 units in Table storage) stays a fraction of that. Attempt numbers keep counting every attempt.
FIRST_ATTEMPTS_KEPT = 10
LATEST_ATTEMPTS_KEPT = 20
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class SubscriptionRequest:
    """The body of `POST /subscriptions`, every member checked by type and size before anything is stored."""

    url: str
    site: str | None
    event_types: list[str] | None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> SubscriptionRequest:
        url = request_body.text(doc, "url", min_chars=1, max_chars=MAX_URL_CHARS, reason="invalid_url")
        if url is None:
            raise InvalidInput("'url' is required", reason="missing_url")
        site = doc.get("site")
        if site is not None and site != ALL_SITES and not (isinstance(site, str) and ID.fullmatch(site)):
            raise InvalidInput(
                "'site' must be '*' or 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit",
                reason="invalid_site",
            )
        types = request_body.string_list(
            doc, "event_types", max_items=MAX_EVENT_TYPES, max_chars=MAX_EVENT_TYPE_CHARS, reason="invalid_event_types"
        )
        return cls(url, site, types)


def check_subscription_id(value: str) -> str:
    """A path's subscription id, or InvalidInput `bad_subscription_id` (before it reaches a Table key)."""
    if not SUBSCRIPTION_ID.fullmatch(value):
        raise InvalidInput(f"{value[:80]!r} is not a subscription id", reason="bad_subscription_id")
    return value


def check_event_id(value: str) -> str:
    """A path's event id, or InvalidInput `bad_event_id`."""
    if not EVENT_ID.fullmatch(value):
        raise InvalidInput(f"{value[:80]!r} is not an event id", reason="bad_event_id")
    return value


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    expires_at: datetime | None = None  # set on the old secret when it is rotated out

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    site: str
    event_types: frozenset[str]
    secrets: tuple[SigningSecret, ...]
    created_at: datetime
    disabled_reason: str | None = None
    etag: str | None = None

    def wants(self, event: Event) -> bool:
        return self.disabled_reason is None and event.type in self.event_types and self.site in (ALL_SITES, event.site)

    def signing_secrets(self, now: datetime) -> list[str]:
        return [s.secret for s in self.secrets if s.active(now)]

    def rotated(self, secret: str, now: datetime, grace: timedelta) -> Subscription:
        """`secret` current, the one current until now signing for `grace` more, any older one dropped: at most two
        sign, so a rotation within the grace of the last drops the oldest (a leaked secret never has to wait)."""
        newest = [s for s in self.secrets if s.active(now)][-1:]
        previous = tuple(SigningSecret(s.secret, s.expires_at or now + grace) for s in newest)
        return replace(self, secrets=(*previous, SigningSecret(secret)))

    def holds(self, secret: str) -> bool:
        """Whether `secret` is one of its secrets, expired or not."""
        return any(s.secret == secret for s in self.secrets)

    @property
    def registration(self) -> str:
        """What two subscriptions that would send every event twice share: the url as given, the site and the
        event types, hashed (a Table key). Only one active subscription may hold a registration."""
        text = json.dumps([self.url, self.site, sorted(self.event_types)])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def public(self, now: datetime) -> dict[str, object]:
        """What the API shows: never a secret, and of the secrets only the expiry of those still signing at `now`.
        An expired one stays in the row until the next rotation drops it; nothing is written on a read."""
        return {
            "id": self.id,
            "url": self.url,
            "site": self.site,
            "event_types": sorted(self.event_types),
            "created_at": self.created_at.isoformat(),
            "disabled_reason": self.disabled_reason,
            "secrets": [
                {"expires_at": s.expires_at.isoformat() if s.expires_at else None}
                for s in self.secrets
                if s.active(now)
            ],
        }


@dataclass(frozen=True)
class Event:
    """One terminal job event; `body` is the exact bytes every attempt sends and signs."""

    id: str
    job_id: str
    site: str
    type: str
    body: bytes
    created_at: datetime


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # retries exhausted, URL refused, or the receiver answered 410
    CANCELLED = "cancelled"  # the subscription was removed or disabled before delivery

    @property
    def terminal(self) -> bool:
        return self is not DeliveryState.PENDING


@dataclass(frozen=True)
class Attempt:
    number: int
    started_at: datetime
    finished_at: datetime | None = None
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    event_id: str
    subscription_id: str
    state: DeliveryState
    next_attempt_at: datetime
    attempts: tuple[Attempt, ...] = field(default=())
    failure_reason: str | None = None
    etag: str | None = None
    created_at: datetime | None = None  # when it was queued; orders a subscription's recent deliveries

    def with_attempt(self, attempt: Attempt) -> Delivery:
        """`attempt` recorded (replacing the one of its number), then the attempts between the first and the latest
        ones kept dropped, and every error bounded: what the row holds stays bounded however many attempts."""
        others = [a for a in self.attempts if a.number != attempt.number]
        attempts = sorted((*others, attempt), key=lambda a: a.number)
        if len(attempts) > FIRST_ATTEMPTS_KEPT + LATEST_ATTEMPTS_KEPT:
            attempts = attempts[:FIRST_ATTEMPTS_KEPT] + attempts[-LATEST_ATTEMPTS_KEPT:]
        return replace(self, attempts=tuple(replace(a, error=bounded_error(a.error)) for a in attempts))

    @property
    def attempt_count(self) -> int:
        """Every attempt made, those no longer kept included: numbers count from 1 and are never reused."""
        return max((a.number for a in self.attempts), default=0)

    @property
    def open_attempt(self) -> Attempt | None:
        """An attempt that started and never recorded an outcome (its process died)."""
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.finished_at is None else None


def bounded_error(error: str | None) -> str | None:
    """An attempt's error as kept: printable ASCII (anything else backslash-escaped, so a receiver's bytes cannot
    grow it in JSON by more than twice) and at most MAX_ERROR_CHARS. Applied again, it changes nothing."""
    if error is None:
        return None
    if not (error.isascii() and error.isprintable()):
        error = "".join(c if c.isascii() and c.isprintable() else c.encode("unicode_escape").decode("ascii")
                        for c in error)  # fmt: skip
    return error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 3] + "..."
