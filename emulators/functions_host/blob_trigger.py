"""Blob-triggered functions, as the Storage extension 5.x runs them.

Detection (a container scan here, since Azurite has no analytics logs and emits no Event Grid events;
or an Event Grid post to the webhook) enqueues a `BlobTriggerMessage` on the host queue
`azure-webjobs-blobtrigger-{hostId}`; a queue listener with `poisonBlobThreshold` as its dequeue count
runs the function; what keeps failing lands in `webjobs-blobtrigger-poison` with the same JSON.
The scan writes blob receipts so that a restarted host does not deliver a blob version twice.
A trigger the worker marked deferred (an SDK-type parameter) gets a reference to the blob, never its
content: the host reads the blob's properties only, whatever its size.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.blob import InputStream

from emulators.functions_host import deferred_bindings
from emulators.functions_host.binding_expressions import BlobPathPattern, resolve_app_settings
from emulators.functions_host.index import FunctionSpec
from emulators.functions_host.invoker import Invoker
from emulators.functions_host.queue_listener import Delivery
from emulators.functions_host.receipts import ReceiptBusy, ReceiptStore
from emulators.functions_host.storage import StorageClients

log = logging.getLogger(__name__)
HOSTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"
SCAN_PAUSE_PER_SCAN_S = 8.0  # seconds of pause per second a scan took
EVENT_GRID = "EventGrid"
CLAIMS_AT_ONCE = 16  # receipts claimed concurrently by one scan
# The cursor never passes the scan's start less this: a listing gives Last-Modified to the second, and a
# blob committed while the listing ran may sort before where the listing already was.
LISTING_MARGIN = timedelta(seconds=2)


def trigger_queue_name(host_id: str) -> str:
    return f"azure-webjobs-blobtrigger-{host_id}"


def trigger_message(function_id: str, container: str, blob_name: str, etag: str) -> str:
    etag = etag if etag.startswith('"') else f'"{etag}"'  # the host keeps ETag.ToString()'s quotes
    return json.dumps(
        {
            "Type": "BlobTrigger",
            "FunctionId": function_id,
            "BlobType": "BlockBlob",
            "ContainerName": container,
            "BlobName": blob_name,
            "ETag": etag,
        }
    )


class BlobTriggers:
    """The blob functions of one app: pattern matching, scanning, and running trigger messages."""

    def __init__(
        self, specs: list[FunctionSpec], settings: Mapping[str, str], storage: StorageClients, host_id: str
    ) -> None:
        self.specs = {s.function_id: s for s in specs}
        self.patterns = {
            s.function_id: BlobPathPattern.parse(resolve_app_settings(str(s.trigger.get("path")), settings))
            for s in specs
        }
        self.storage = storage
        self.host_id = host_id
        self.receipts = ReceiptStore(storage.blob_service(None).get_container_client(HOSTS_CONTAINER), host_id)

    @staticmethod
    def clock() -> datetime:
        return datetime.now(UTC)

    def spec_for(self, function_id: str) -> FunctionSpec | None:
        """The function with exactly this id (`Host.Functions.<name>`), as the host's registrations are keyed."""
        return self.specs.get(function_id)

    async def enqueue(self, function_id: str, container: str, blob_name: str, etag: str) -> None:
        await self.storage.send_messages(
            None, trigger_queue_name(self.host_id), [trigger_message(function_id, container, blob_name, etag)]
        )

    async def scan_once(self) -> int:
        """List each watched container once; enqueue every new blob version. Returns how many were queued."""
        queued = 0
        by_container: dict[tuple[str, str], list[str]] = {}
        for fid, pattern in self.patterns.items():
            connection = str(self.specs[fid].trigger.get("connection") or "")
            by_container.setdefault((connection, pattern.container), []).append(fid)
        for (connection, container), fids in by_container.items():
            queued += await self._scan_container(connection or None, container, fids)
        return queued

    async def _scan_container(self, connection: str | None, container: str, fids: list[str]) -> int:
        client = self.storage.blob_service(connection).get_container_client(container)
        cursor = await self.receipts.read_cursor(container)
        began = self.clock()
        latest: datetime | None = None
        found: list[tuple[datetime, str, str, str]] = []  # (last modified, function id, blob name, etag)
        try:
            async for blob in client.list_blobs():
                modified: datetime = blob.last_modified
                if cursor is not None and modified < cursor:
                    continue
                latest = modified if latest is None or modified > latest else latest
                found += [
                    (modified, fid, blob.name, str(blob.etag)) for fid in fids if self.patterns[fid].match(blob.name)
                ]
        except ResourceNotFoundError:
            return 0  # container not created yet
        # Each blob's receipt is claimed on its own, so a burst's blobs are claimed several at once: one after
        # the other, a scan of a thousand new blobs took minutes of round trips while the workers waited.
        limit = asyncio.Semaphore(CLAIMS_AT_ONCE)

        async def claim(modified: datetime, fid: str, name: str, etag: str) -> tuple[int, datetime | None]:
            async with limit:
                enqueue = functools.partial(self.enqueue, fid, container, name, etag)
                try:
                    return int(await self.receipts.claim_and_complete(fid, container, name, etag, enqueue)), None
                except ReceiptBusy:
                    return 0, modified

        claims = await asyncio.gather(*(claim(*blob) for blob in found))
        # The oldest blob whose receipt was leased holds the cursor before it.
        held = min((modified for _, modified in claims if modified is not None), default=None)
        if latest is not None:
            # A leased receipt (a host killed while claiming it leaves one for LEASE_SECONDS) holds the cursor
            # back, so a later scan claims the blob once the lease lapses instead of passing it for good. The
            # scan's start holds it too: a listing is in name order, so a blob committed during it under a name
            # already passed is not in it, while a newer blob under a later name is (4 of 10,000 photos in a
            # chaos run were never delivered when the newest blob listed moved the cursor).
            end = min(latest, began - LISTING_MARGIN, *([held] if held is not None else []))
            await self.receipts.write_cursor(container, end - timedelta(milliseconds=1))
        return sum(queued for queued, _ in claims)

    async def run_scanner(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self.scan_once()
            except Exception:
                log.exception("blob scan failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), scan_pause(interval_s, time.monotonic() - began))

    async def handle(self, invoker: Invoker, delivery: Delivery) -> None:
        """Run the function a BlobTriggerMessage names (the BlobQueueTriggerExecutor step)."""
        msg = json.loads(delivery.text)
        spec = self.spec_for(str(msg.get("FunctionId", "")))
        if spec is None:
            log.info("blob trigger message for unknown function %s dropped", msg.get("FunctionId"))
            return
        container, name = str(msg["ContainerName"]), str(msg["BlobName"])
        blob = self.storage.blob_service(spec.trigger.get("connection")).get_blob_client(container, name)
        try:
            props = await blob.get_blob_properties()
        except ResourceNotFoundError:
            return  # the blob is gone: dropped as a success, no invocation
        if spec.trigger.get("source") != EVENT_GRID and str(props.etag).strip('"') != str(msg.get("ETag")).strip('"'):
            return  # a newer version exists and will be detected on its own
        captures = self.patterns[spec.function_id].match(name) or {}
        await invoker.invoke(
            spec, await self._value(spec, blob, props), _binding_data(container, name, blob.url, props, captures)
        )

    async def _value(self, spec: FunctionSpec, blob: Any, props: Any) -> Any:
        if spec.trigger.deferred:
            return deferred_bindings.blob_reference(spec.trigger.get("connection"), props.container, props.name)
        data: bytes = await (await blob.download_blob()).readall()
        hint = spec.annotations.get(spec.trigger.name)
        if hint is bytes:
            return data
        if hint is str:
            return data.decode("utf-8")
        return InputStream(
            data=data,
            name=f"{props.container}/{props.name}",
            uri=blob.url,
            length=props.size,
            blob_properties={
                "ContentLength": props.size,
                "ETag": props.etag,
                "ContentType": props.content_settings.content_type,
            },
            metadata=dict(props.metadata or {}),
        )


def _binding_data(container: str, name: str, url: str, props: Any, captures: Mapping[str, str]) -> dict[str, object]:
    return {
        **captures,
        "BlobTrigger": f"{container}/{name}",
        "Uri": url,
        "Metadata": dict(props.metadata or {}),
        "Properties": {"ContentLength": props.size, "ETag": props.etag},
    }


def scan_pause(interval_s: float, took_s: float) -> float:
    """Seconds until the next scan. A scan lists the whole container, so its cost grows with the blobs in it
    (500 photos: about 0.1 s of the host's CPU, and Azurite's on top); the pause grows with it, keeping the
    scan to a ninth of the time however many blobs the container holds."""
    return max(interval_s, SCAN_PAUSE_PER_SCAN_S * took_s)
