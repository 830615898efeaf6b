"""Webhook domain values: subscriptions, events (the outbox) and per-subscription deliveries."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime

EVENT_TYPES = frozenset({"job.succeeded", "job.failed", "job.rejected"})
ALL_SITES = "*"


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

    def public(self) -> dict[str, object]:
        """What the API shows: never a secret."""
        return {
            "id": self.id,
            "url": self.url,
            "site": self.site,
            "event_types": sorted(self.event_types),
            "created_at": self.created_at.isoformat(),
            "disabled_reason": self.disabled_reason,
            "secrets": [{"expires_at": s.expires_at.isoformat() if s.expires_at else None} for s in self.secrets],
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

    def with_attempt(self, attempt: Attempt) -> Delivery:
        kept = tuple(a for a in self.attempts if a.number != attempt.number)
        return replace(self, attempts=(*kept, attempt))

    @property
    def open_attempt(self) -> Attempt | None:
        """An attempt that started and never recorded an outcome (its process died)."""
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.finished_at is None else None
