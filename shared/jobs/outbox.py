"""The jobs' outbox is the webhook service's event table: one event per terminal job, fanned out there."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.jobs import document
from shared.jobs.models import Job
from shared.webhooks.models import Event
from shared.webhooks.service import WebhookService


class WebhookOutbox:
    def __init__(self, webhooks: WebhookService, clock: Callable[[], datetime]) -> None:
        self.webhooks, self.clock = webhooks, clock

    def record(self, event_id: str, job: Job, status: dict[str, Any]) -> list[tuple[str, str]]:
        """Record the event (idempotent per id) and a delivery for each matching subscription; the deliveries whose
        first attempt is still to be made, this call's and an earlier one's, which `notify` queues
        (`WebhookService.record`)."""
        kind = document.event_type(job)
        body = json.dumps(
            {"type": kind, "id": event_id, "timestamp": self.clock().isoformat(), "data": status},
            sort_keys=True, separators=(",", ":"),
        ).encode()  # fmt: skip
        return self.webhooks.record(Event(event_id, job.id, job.site, kind, body, self.clock()))

    def notify(self, unsent: list[tuple[str, str]]) -> None:
        """Queue the deliveries `record` returned."""
        self.webhooks.notify(unsent)
