"""Blob receipts and scan cursors, kept in `azure-webjobs-hosts` as the Functions host keeps them.

Receipt: `blobreceipts/{hostId}/{functionId}/{etag}/{container}/{blobName}`; metadata `Incomplete`
while a delivery is being queued. The receipt is completed once the trigger message is *queued* (not
when the function succeeds): failures after that belong to the queue's retry and poison rules.
Cursor: `blobscaninfo/{hostId}/{container}/scanInfo`, `{"LatestScan": ISO time}`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import ContainerClient

LEASE_SECONDS = 30
INCOMPLETE = "Incomplete"


class ReceiptBusy(Exception):
    """The receipt's lease is held: by another host, by a host that died holding it, or by this one when the
    reply to its own lease request was lost. Not delivered yet: the scan must come back to the blob."""


class ReceiptStore:
    def __init__(self, container: ContainerClient, host_id: str) -> None:
        self.container = container
        self.host_id = host_id
        self._created = False

    async def _ensure(self) -> None:
        if not self._created:
            with contextlib.suppress(ResourceExistsError):
                await self.container.create_container()
            self._created = True

    def receipt_name(self, function_id: str, container: str, blob_name: str, etag: str) -> str:
        # ETag quotes are dropped from the path: they are noise in a blob name and in URLs.
        return f"blobreceipts/{self.host_id}/{function_id}/{etag.strip(chr(34))}/{container}/{blob_name}"

    async def claim_and_complete(
        self, function_id: str, container: str, blob_name: str, etag: str, enqueue: Callable[[], Awaitable[None]]
    ) -> bool:
        """Deliver one blob version once: returns True if this call queued it, False if it was delivered before;
        raises ReceiptBusy if a lease on its receipt keeps it from being claimed now."""
        await self._ensure()
        blob = self.container.get_blob_client(self.receipt_name(function_id, container, blob_name, etag))
        try:
            props = await blob.get_blob_properties()
            if INCOMPLETE not in (props.metadata or {}):
                return False  # already delivered
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                await blob.upload_blob(b"", metadata={INCOMPLETE: "true"}, match_condition=MatchConditions.IfMissing)
        try:
            lease = await blob.acquire_lease(lease_duration=LEASE_SECONDS)
        except HttpResponseError as exc:
            raise ReceiptBusy(f"the receipt of {container}/{blob_name} is leased") from exc
        try:
            props = await blob.get_blob_properties()
            if INCOMPLETE not in (props.metadata or {}):
                return False
            await enqueue()
            await blob.set_blob_metadata({}, lease=lease)
            return True
        finally:
            with contextlib.suppress(HttpResponseError):
                await lease.release()

    def _cursor_blob(self, container: str) -> str:
        return f"blobscaninfo/{self.host_id}/{container}/scanInfo"

    async def read_cursor(self, container: str) -> datetime | None:
        await self._ensure()
        try:
            raw = await (await self.container.get_blob_client(self._cursor_blob(container)).download_blob()).readall()
        except ResourceNotFoundError:
            return None
        return datetime.fromisoformat(json.loads(raw)["LatestScan"])

    async def write_cursor(self, container: str, latest: datetime) -> None:
        body = json.dumps({"LatestScan": latest.isoformat()}).encode()
        await self.container.get_blob_client(self._cursor_blob(container)).upload_blob(body, overwrite=True)
