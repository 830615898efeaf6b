"""Async storage clients for the host, one per connection, built once and closed at shutdown."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob.aio import BlobServiceClient, ContainerClient
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from emulators import storage_account


class StorageClients:
    def __init__(self, settings: Mapping[str, str], message_encoding: str) -> None:
        self._settings = settings
        self._encoding = message_encoding
        self._blobs: dict[str, BlobServiceClient] = {}
        self._queues: dict[str, QueueServiceClient] = {}
        self._known_containers: set[str] = set()
        self._known_queues: set[str] = set()
        self._raw_queues: list[QueueClient] = []
        self.on_enqueue: Callable[[str], None] = lambda _queue: None

    def connection_string(self, connection: str | None) -> str:
        return storage_account.resolve(connection, self._settings)

    def blob_service(self, connection: str | None) -> BlobServiceClient:
        cs = self.connection_string(connection)
        if cs not in self._blobs:
            self._blobs[cs] = BlobServiceClient.from_connection_string(cs)
        return self._blobs[cs]

    def queue_service(self, connection: str | None) -> QueueServiceClient:
        cs = self.connection_string(connection)
        if cs not in self._queues:
            self._queues[cs] = QueueServiceClient.from_connection_string(cs)
        return self._queues[cs]

    def raw_queue(self, connection: str | None, name: str) -> QueueClient:
        """A client that neither encodes nor decodes: the listener handles encodings itself."""
        client = QueueClient.from_connection_string(self.connection_string(connection), name)
        self._raw_queues.append(client)
        return client

    async def ensure_container(self, container: ContainerClient) -> None:
        key = container.url
        if key not in self._known_containers:
            with contextlib.suppress(ResourceExistsError):
                await container.create_container()
            self._known_containers.add(key)

    async def ensure_queue(self, queue: QueueClient) -> None:
        key = queue.url
        if key not in self._known_queues:
            with contextlib.suppress(ResourceExistsError):
                await queue.create_queue()
            self._known_queues.add(key)

    async def send_messages(self, connection: str | None, queue_name: str, texts: list[str]) -> None:
        """Enqueue as the output binding does: encoded per `messageEncoding`, queue created if missing."""
        policy = TextBase64EncodePolicy() if self._encoding == "base64" else None
        async with QueueClient.from_connection_string(
            self.connection_string(connection), queue_name, message_encode_policy=policy
        ) as queue:
            await self.ensure_queue(queue)
            for text in texts:
                await queue.send_message(text)
        self.on_enqueue(queue_name)

    async def close(self) -> None:
        for raw in self._raw_queues:
            await raw.close()
        for blobs in self._blobs.values():
            await blobs.close()
        for queues in self._queues.values():
            await queues.close()
