"""The harness's `messages()` takes what it returns off the notification queue: a message it only received would
be visible again once its visibility timeout lapsed, and a test that drained the queue would find it again."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_messages_taken_once_are_gone_from_the_queue_not_only_hidden(harness, receiver):
    sub, _ = harness.service.subscribe(receiver.url, None, None)
    event = harness.event("drained1")
    harness.service.publish(event)
    assert harness.messages() == [{"event_id": event.id, "subscription_id": sub.id}]
    # Counted with the messages a receive hid for now: none left to come back to a later call.
    assert harness.queue.get_queue_properties().approximate_message_count == 0
    assert harness.messages() == []
