"""UploadSigner on Azure Blob storage: create-only SAS URLs for one blob in `photos`.

- Permissions `cw` (create + write), resource `b` (this blob only): no read, list, delete or other blob.
  Put Block and Put Block List need `w`; `c` alone allows only a single-shot Put Blob (checked on Azurite:
  a `c` SAS gets 403 for Put Block). No narrower set exists: `w` also allows overwriting the committed
  blob, its metadata and properties, leases and the tier, and `c` and `w` both allow snapshots. While
  the SAS lives (≤ 15 minutes) the pipeline copes: a photo's job keeps the version it first read, a later
  write is recorded and never processed, and quarantine deletes snapshots and breaks leases
  (docs/uploads.md, "What a device can do with it"). The client commits with `If-None-Match: *`, and the
  service hands out no URL once the blob is committed.
- Start 5 minutes back (device clock skew); expiry `ttl` ≤ 15 minutes after issue.
- HTTPS only, except against a loopback endpoint (the local emulator, which speaks HTTP).
- `upload_state` reads, with the app's own credentials, what a device's SAS cannot: the committed blob's
  ETag, or else the uncommitted blocks (Get Block List), so an interrupted upload can resume.
- Signed with the account key when the settings have one (Azurite), otherwise with a user delegation key
  from the app's managed identity, cached until shortly before it expires (needs the Storage Blob
  Delegator role, or any role with `generateUserDelegationKey`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey, generate_blob_sas

from shared.adapters.azure_errors import call
from shared.errors import Conflict, NotFound
from shared.uploads.naming import PHOTOS
from shared.uploads.ports import SignedUrl, StagedBlock, UploadState

CLOCK_SKEW = timedelta(minutes=5)
DELEGATION_KEY_LIFETIME = timedelta(hours=2)
PERMISSIONS = BlobSasPermissions(create=True, write=True)
# A bound on the reply: a device resumes by skipping the blocks listed (ids carry their index) and stages
# the rest, so listing only the first ones is still correct. a thousand 4 MiB blocks is far above any photo.
MAX_REPORTED_BLOCKS = 1000


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BlobUploadSigner:
    def __init__(
        self,
        service: BlobServiceClient,
        *,
        account_key: str | None,
        container: str = PHOTOS,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.service, self.container, self.clock = service, container, clock
        self._account_key = account_key
        self.https_only = not is_loopback(service.url)
        self._delegation: tuple[UserDelegationKey, datetime] | None = None
        self._lock = threading.Lock()

    def create_only_url(self, blob_name: str, ttl: timedelta) -> SignedUrl:
        now = self.clock()
        expiry = now + ttl
        common: dict[str, Any] = {
            "account_name": self.service.account_name,
            "container_name": self.container,
            "blob_name": blob_name,
            "permission": PERMISSIONS,
            "start": now - CLOCK_SKEW,
            "expiry": expiry,
            "protocol": "https" if self.https_only else "https,http",
        }
        if self._account_key:
            sas = generate_blob_sas(account_key=self._account_key, **common)
        else:
            sas = generate_blob_sas(user_delegation_key=self._delegation_key(now, expiry), **common)
        url = self.service.get_blob_client(self.container, blob_name).url
        return SignedUrl(f"{url}?{sas}", expiry)

    def ensure_container(self) -> None:
        """Local development only; in Azure the deployment creates `photos`."""
        with contextlib.suppress(Conflict):  # it exists already
            call(f"container {self.container}", self.service.create_container, self.container)

    def upload_state(self, blob_name: str) -> UploadState:
        blob = self.service.get_blob_client(self.container, blob_name)
        try:
            return UploadState(str(call(f"photo {blob_name}", blob.get_blob_properties).etag))
        except NotFound:
            pass  # not committed: look for blocks an interrupted upload left staged
        try:
            _, uncommitted = call(f"block list of {blob_name}", blob.get_block_list, "uncommitted")
        except NotFound:
            return UploadState(None)  # nothing staged either
        staged = [StagedBlock(str(b.id), int(b.size or 0)) for b in uncommitted[:MAX_REPORTED_BLOCKS]]
        return UploadState(None, tuple(staged))

    def _delegation_key(self, now: datetime, expiry: datetime) -> UserDelegationKey:
        """One key for many SASs: renewed when it would expire before the SAS it must sign (plus skew)."""
        with self._lock:
            if self._delegation is None or self._delegation[1] < expiry + CLOCK_SKEW:
                key_expiry = now + DELEGATION_KEY_LIFETIME
                key = call("user delegation key", self.service.get_user_delegation_key, now - CLOCK_SKEW, key_expiry)
                self._delegation = (key, key_expiry)
            return self._delegation[0]
