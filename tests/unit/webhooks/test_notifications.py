"""The `notifications` message: what the queue adapter writes is what `on_notification` reads, and anything
else is refused as `bad_message` (logged), never a KeyError or a delivery to a guessed id."""

from __future__ import annotations

import logging

import pytest

from shared.errors import InvalidInput, PermanentError
from shared.webhooks import notifications
from shared.webhooks.models import DeliveryState
from shared.webhooks.notifications import Notifications

EVENT, SUB = "evt_j_" + "a" * 26 + "_succeeded", "sub_" + "1" * 32


class Deliveries:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, event_id: str, subscription_id: str) -> DeliveryState:
        self.asked.append((event_id, subscription_id))
        return DeliveryState.DELIVERED


def test_an_encoded_message_is_handed_to_deliver():
    deliver = Deliveries()
    state = Notifications(deliver).handle(notifications.encode(EVENT, SUB).encode())
    assert state is DeliveryState.DELIVERED and deliver.asked == [(EVENT, SUB)]


def test_a_message_queued_before_the_job_id_was_dropped_still_parses():
    body = b'{"event_id": "%s", "job_id": "", "subscription_id": "%s"}' % (EVENT.encode(), SUB.encode())
    assert notifications.parse(body) == (EVENT, SUB)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"evt"',
        b'{"event_id": "evt_1"}',
        b'{"subscription_id": "sub_1"}',
        b'{"event_id": 7, "subscription_id": "sub_1"}',
        b'{"event_id": "", "subscription_id": "sub_1"}',
        b'{"event_id": "evt_1", "subscription_id": null}',
        b'{"event_id": "' + b"e" * 129 + b'", "subscription_id": "sub_1"}',
        b'{"event_id": "evt_1", "subscription_id": "sub_1", "pad": "' + b"x" * 2000 + b'"}',
    ],
)
def test_a_malformed_message_is_a_logged_permanent_bad_message(body, caplog):
    deliver = Deliveries()
    with caplog.at_level(logging.ERROR, "shared.webhooks.notifications"), pytest.raises(InvalidInput) as caught:
        Notifications(deliver).handle(body)
    assert isinstance(caught.value, PermanentError) and caught.value.reason == "bad_message"
    assert deliver.asked == []
    assert [r.levelno for r in caplog.records] == [logging.ERROR] and "bad_message" in caplog.text
