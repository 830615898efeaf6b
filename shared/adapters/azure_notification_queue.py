"""NotificationQueue on Azure Queue storage, base64-encoded as the Functions queue trigger expects."""

from __future__ import annotations

import contextlib
import json
from datetime import timedelta

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueClient

from shared.adapters.azure_errors import translate

NOTIFICATIONS_QUEUE = "notifications"
MAX_DELAY = timedelta(days=7)  # the service's limit for an initial visibility timeout


class StorageNotificationQueue:
    def __init__(self, queue: QueueClient) -> None:
        self._queue = queue
        with contextlib.suppress(ResourceExistsError):
            self._queue.create_queue()

    def send(self, event_id: str, job_id: str, subscription_id: str, delay: timedelta) -> None:
        body = json.dumps({"event_id": event_id, "job_id": job_id, "subscription_id": subscription_id})
        seconds = int(min(max(delay, timedelta(0)), MAX_DELAY).total_seconds())
        try:
            self._queue.send_message(body, visibility_timeout=seconds or None)
        except AzureError as exc:  # the one mapping: throttling and outages transient, a refusal permanent
            raise translate(exc, "notification queue") from exc
