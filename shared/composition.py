"""The composition root: builds each service once from Settings, with real SDK clients.

Locally the clients use the storage connection string; in Azure they use the managed identity.
"""

from __future__ import annotations

import functools
import os
from datetime import timedelta

from azure.data.tables import TableServiceClient
from azure.identity import ManagedIdentityCredential
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from shared.adapters.azure_notification_queue import NOTIFICATIONS_QUEUE, StorageNotificationQueue
from shared.adapters.azure_webhook_store import TableWebhookStore
from shared.config import Settings
from shared.webhooks.endpoint import EndpointPolicy
from shared.webhooks.service import WebhookService


@functools.cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


def _credential(client_id: str | None) -> ManagedIdentityCredential:
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def table_service(s: Settings) -> TableServiceClient:
    if s.storage.connection_string:
        return TableServiceClient.from_connection_string(s.storage.connection_string)
    assert s.storage.table_uri
    return TableServiceClient(s.storage.table_uri, credential=_credential(s.storage.client_id))


def queue_client(s: Settings, name: str) -> QueueClient:
    policy = TextBase64EncodePolicy()  # the Functions queue trigger expects base64
    if s.storage.connection_string:
        return QueueClient.from_connection_string(s.storage.connection_string, name, message_encode_policy=policy)
    assert s.storage.queue_uri
    return QueueClient(s.storage.queue_uri, name, credential=_credential(s.storage.client_id),
                       message_encode_policy=policy)  # fmt: skip


@functools.cache
def webhooks() -> WebhookService:
    s = settings()
    return WebhookService(
        TableWebhookStore(table_service(s), prefix=s.table_prefix),
        StorageNotificationQueue(queue_client(s, NOTIFICATIONS_QUEUE)),
        EndpointPolicy(allowed_ports=s.webhooks_allowed_ports, allow_loopback=s.webhooks_allow_loopback),
        stale_attempt=timedelta(seconds=s.webhook_stale_attempt_s),
        lost_message=timedelta(seconds=s.webhook_lost_message_s),
    )
