"""The `notifications` queue's message: one delivery attempt to run, `{"event_id", "subscription_id"}`.

`NotificationQueue` adapters write it with `encode`; `on_notification` hands the raw message to
`Notifications.handle`, so the trigger parses nothing itself. A message that is not this document can never
become one: it is refused as `InvalidInput` `bad_message` and logged, like a malformed `completions`
message, and the host's retries move it to `notifications-poison` for an operator to look at. Handling a
message twice is safe: `WebhookService.deliver` runs an attempt only while the delivery is due.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from shared.errors import InvalidInput
from shared.webhooks.models import DeliveryState

log = logging.getLogger(__name__)
MAX_ID_CHARS = 128  # event ids are 1-128 characters; subscription ids 36
MAX_MESSAGE_BYTES = 1024


def encode(event_id: str, subscription_id: str) -> str:
    return json.dumps({"event_id": event_id, "subscription_id": subscription_id}, separators=(",", ":"))


def parse(body: bytes) -> tuple[str, str]:
    """(event id, subscription id), or InvalidInput `bad_message`."""
    try:
        doc = json.loads(body) if len(body) <= MAX_MESSAGE_BYTES else None
    except ValueError as exc:  # not UTF-8 or not JSON
        raise InvalidInput(f"notification message is not JSON: {exc}", reason="bad_message") from exc
    event_id, subscription_id = (doc.get("event_id"), doc.get("subscription_id")) if isinstance(doc, dict) else ("", "")
    if not (_is_id(event_id) and _is_id(subscription_id)):
        raise InvalidInput("notification message is not {event_id, subscription_id}", reason="bad_message")
    return str(event_id), str(subscription_id)


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS


class Notifications:
    """`on_notification`: the raw queue message in, one delivery attempt (if still due) out."""

    def __init__(self, deliver: Callable[[str, str], DeliveryState]) -> None:
        self.deliver = deliver

    def handle(self, body: bytes) -> DeliveryState:
        try:
            event_id, subscription_id = parse(body)
        except InvalidInput as exc:
            log.error("notification message refused (%s): %s", exc.reason, exc)
            raise
        return self.deliver(event_id, subscription_id)
