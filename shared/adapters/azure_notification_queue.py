"""NotificationQueue on Azure Queue storage, base64-encoded as the Functions queue trigger expects.

The message is `shared.webhooks.notifications`' document; `on_notification` reads it back with the same module.
"""

from __future__ import annotations

import contextlib
import math
from datetime import timedelta

from azure.storage.queue import QueueClient

from shared.adapters.azure_errors import call
from shared.errors import Conflict
from shared.webhooks import notifications

NOTIFICATIONS_QUEUE = "notifications"
MAX_DELAY = timedelta(days=7)  # the service's limit for an initial visibility timeout


class StorageNotificationQueue:
    def __init__(self, queue: QueueClient) -> None:
        self._queue = queue
        with contextlib.suppress(Conflict):  # it exists already
            call("notification queue", self._queue.create_queue)

    def send(self, event_id: str, subscription_id: str, delay: timedelta) -> None:
        body = notifications.encode(event_id, subscription_id)
        # Rounded up: a message visible before its attempt is due would be taken for an early duplicate.
        seconds = math.ceil(min(max(delay, timedelta(0)), MAX_DELAY).total_seconds())
        # The one mapping: throttling and outages transient, a refusal permanent.
        call("notification queue", self._queue.send_message, body, visibility_timeout=seconds or None)
