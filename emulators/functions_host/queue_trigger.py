"""Queue-triggered functions: a QueueListener per function that turns deliveries into invocations."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from azure.functions.queue import QueueMessage as FuncQueueMessage

from emulators.functions_host.binding_expressions import resolve_app_settings
from emulators.functions_host.config import QueueOptions
from emulators.functions_host.index import FunctionSpec
from emulators.functions_host.invoker import Invoker
from emulators.functions_host.queue_listener import Delivery, QueueListener, poison_queue_name
from emulators.functions_host.storage import StorageClients


def queue_name_of(spec: FunctionSpec, settings: Mapping[str, str]) -> str:
    return resolve_app_settings(str(spec.trigger.get("queueName")), settings).lower()


def binding_data(delivery: Delivery) -> dict[str, object]:
    """Trigger metadata plus the JSON body's properties, for `{...}` expressions in other bindings."""
    m = delivery.message
    data: dict[str, object] = {}
    try:
        body = json.loads(delivery.text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        data.update(body)
    data.update(
        QueueTrigger=delivery.text,
        Id=m.id,
        DequeueCount=m.dequeue_count,
        InsertionTime=m.inserted_on.isoformat() if m.inserted_on else None,
        ExpirationTime=m.expires_on.isoformat() if m.expires_on else None,
        NextVisibleTime=m.next_visible_on.isoformat() if m.next_visible_on else None,
        PopReceipt=m.pop_receipt,
    )
    return data


def trigger_value(spec: FunctionSpec, delivery: Delivery) -> Any:
    hint = spec.annotations.get(spec.trigger.name)
    if hint is str:
        return delivery.text
    if hint is bytes:
        return delivery.text.encode("utf-8")
    m = delivery.message
    return FuncQueueMessage(  # type: ignore[no-untyped-call]
        id=m.id,
        body=delivery.text.encode("utf-8"),
        dequeue_count=m.dequeue_count,
        expiration_time=m.expires_on,
        insertion_time=m.inserted_on,
        time_next_visible=m.next_visible_on,
        pop_receipt=m.pop_receipt,
    )


def build_listener(
    spec: FunctionSpec, settings: Mapping[str, str], storage: StorageClients, options: QueueOptions, invoker: Invoker
) -> QueueListener:
    name = queue_name_of(spec, settings)
    connection = spec.trigger.get("connection")
    poison = poison_queue_name(name)

    async def handle(delivery: Delivery) -> None:
        await invoker.invoke(spec, trigger_value(spec, delivery), binding_data(delivery))

    return QueueListener(
        storage.raw_queue(connection, name),
        storage.raw_queue(connection, poison) if poison else None,
        options,
        handle,
    )
