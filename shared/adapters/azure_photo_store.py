"""PhotoStore and Routing on Azure Blob Storage: photos, derived inputs, quarantine, results, read links.

Read links are SAS URLs: signed with the account key against Azurite (local), and with a user delegation key
from the app's managed identity in Azure (cached until shortly before it expires), HTTPS-only there.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.storage.blob import (
    BlobLeaseClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContentSettings,
    UserDelegationKey,
    generate_blob_sas,
)

from batch_tasks.telemetry import parse_traceparent
from shared.adapters.azure_errors import call, service_code, service_status, translated
from shared.errors import Conflict, NotFound, SitelensError, TransientError
from shared.jobs import ids, routing
from shared.jobs.ports import BlobInfo

log = logging.getLogger(__name__)
PHOTOS, QUARANTINE, DERIVED, RESULTS, MODELS = "photos", "quarantine", "derived", "results", "models"
CONTAINERS = (PHOTOS, QUARANTINE, DERIVED, RESULTS, MODELS)
CLOCK_SKEW = timedelta(minutes=5)
COPY_DEADLINE_S = 30.0
# Copy Blob's source URL is at most 2 KiB (x-ms-copy-source, learn.microsoft.com/rest/api/storageservices/copy-blob;
# Azurite takes longer ones). A name another tool wrote in `photos/` may be 1,024 characters, a non-ASCII one 6 or 9
# in the URL, and the read SAS adds some 400: such a photo is copied through the app instead (`quarantine`).
MAX_COPY_SOURCE_CHARS = 2048
# What a copy through the app keeps of the photo's properties, as Copy Blob does (not the MD5 the device set).
KEPT_SETTINGS = ("content_type", "content_encoding", "content_language", "content_disposition", "cache_control")
ROUTING_TTL_S = 60.0
# How long a process that has read no routes keeps an unusable routing.json's refusal: without it each photo,
# each host retry and each reconciler re-drive downloaded the document again and logged an ERROR. Short, unlike
# the TTL, because nothing is routed meanwhile: a corrected document is read within seconds.
ROUTING_RETRY_S = 15.0


def _metadata_text(value: str, limit: int = 512) -> str:
    """Blob metadata values are ASCII headers: keep printable ASCII only."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in value)[:limit]


class BlobPhotoStore:
    def __init__(self, service: BlobServiceClient, *, account_key: str | None, https_only: bool) -> None:
        self.service, self._account_key, self._https_only = service, account_key, https_only
        self._delegation: tuple[UserDelegationKey, datetime] | None = None
        self._lock = threading.Lock()

    def ensure_containers(self) -> None:
        """Local development only: in Azure the deployment creates them and the app may not."""
        for name in CONTAINERS:
            client = self.service.get_container_client(name)
            if not call(name, client.exists):
                with contextlib.suppress(Conflict):  # another worker thread created it since
                    call(name, client.create_container)

    def _blob(self, container: str, name: str) -> Any:
        return self.service.get_blob_client(container, name)

    def photo_info(self, blob_name: str) -> BlobInfo:
        props = call(f"photo {blob_name}", self._blob(PHOTOS, blob_name).get_blob_properties)
        # Not its content type or metadata: the device sets those. Only a well-formed traceparent is taken,
        # as a correlation hint that decides nothing (docs/telemetry.md#trust). The blob's type, which the
        # device's SAS can also choose, only ever refuses it (shared/jobs/not_kept.py).
        hint = parse_traceparent((props.metadata or {}).get("traceparent"))
        blob_type = props.blob_type.value if props.blob_type is not None else "unknown"  # the SDK's BlobType enum
        return BlobInfo(props.size, str(props.etag), hint, blob_type)

    def read_photo(self, blob_name: str, etag: str, max_bytes: int) -> bytes:
        # Bounded twice: the caller checked the size, and the range stops a blob that grew since. Pinned to
        # `etag`: a 412 means the version is gone (overwritten, or its properties or metadata rewritten).
        pinned = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        try:
            return bytes(call(f"photo {blob_name}", lambda: self._blob(PHOTOS, blob_name).download_blob(
                offset=0, length=max_bytes, **pinned).readall()))  # fmt: skip
        except Conflict as exc:
            if service_status(exc) != 412:
                raise  # a 409 (BlobArchived, say) is a refusal, not a newer version
            raise Conflict(f"photo {blob_name} is no longer version {etag}", reason="overwritten") from exc

    def put_derived(self, job_id: str, jpeg: bytes) -> None:
        blob = self._blob(DERIVED, ids.derived_path(job_id))
        call("derived input", blob.upload_blob, jpeg, overwrite=True,
              content_settings=ContentSettings(content_type="image/jpeg"))  # fmt: skip

    def derived_exists(self, job_id: str) -> bool:  # one HEAD: a redelivery asks it instead of a download
        return bool(call("derived input", self._blob(DERIVED, ids.derived_path(job_id)).exists))

    def derived_url(self, job_id: str) -> str:
        """The task input's plain URL, no SAS: the pool's identity reads it (the local Batch service too)."""
        return str(self._blob(DERIVED, ids.derived_path(job_id)).url)

    def quarantine(self, blob_name: str, etag: str, reason: str, detail: str) -> None:
        """Copy version `etag` to `quarantine/` (the reason in metadata), then delete it from `photos/`.

        Safe to repeat, and nothing the device's SAS can do blocks it: snapshots are deleted with the blob
        (a plain delete fails `SnapshotsPresent`), and a lease the device took is broken first (a leased blob
        refuses a delete without its lease id). Copy and delete are pinned to `etag`: a later write under
        the name is neither quarantined nor deleted (NotFound when the version is already gone)."""
        source = self._unleased_version(blob_name, etag, "quarantine")
        target = self._blob(QUARANTINE, blob_name)
        metadata = {"reason": _metadata_text(reason, 64), "detail": _metadata_text(detail),
                    "photo_etag": _metadata_text(etag.strip('"'), 64)}  # fmt: skip
        link = self.read_link(PHOTOS, blob_name, timedelta(minutes=10))
        through_app = len(link) > MAX_COPY_SOURCE_CHARS
        try:  # the copy gets our metadata, never the device's: x-ms-meta-* on a copy replaces the source's
            if through_app:
                self._copy_through_app(source, target, etag, metadata)
            else:
                call("quarantine copy", target.start_copy_from_url, link, metadata=metadata, source_etag=etag,
                     source_match_condition=MatchConditions.IfNotModified)  # fmt: skip
        except Conflict as exc:
            if service_status(exc) != 412:
                raise  # a 409 (a copy already pending, say) is not the source condition
            raise NotFound(f"photo {blob_name}: version {etag} was replaced before the copy") from exc
        if not through_app:  # the service finishes a copy on its own: its status is polled with a deadline
            deadline = time.monotonic() + COPY_DEADLINE_S
            while (status := call("quarantine copy", target.get_blob_properties).copy.status) == "pending":
                if time.monotonic() > deadline:
                    raise TransientError(f"copy of {blob_name} to quarantine still pending")
                time.sleep(0.2)  # between two reads of the copy's status, until the deadline
            if status != "success":
                raise TransientError(f"copy of {blob_name} to quarantine ended {status}")
        self._delete_version(source, blob_name, etag)

    def _copy_through_app(self, source: Any, target: Any, etag: str, metadata: dict[str, str]) -> None:
        """Version `etag` of `source` streamed into `target` with the app's credential. An `invalid_name` photo is
        refused before the size check (shared/validation/validator.py), so it may be of any size: the SDK reads
        one up to its single-put size (64 MiB) whole, a larger one in blocks. A 412 when the version is gone."""
        with translated("quarantine copy"):
            download = source.download_blob(etag=etag, match_condition=MatchConditions.IfNotModified)
            settings = download.properties.content_settings
            kept = ContentSettings(**{name: getattr(settings, name) for name in KEPT_SETTINGS})
            target.upload_blob(download.chunks(), length=download.size, metadata=metadata, content_settings=kept,
                               overwrite=True)  # fmt: skip

    def discard(self, blob_name: str, etag: str) -> None:
        """Delete version `etag` from `photos/` with its snapshots, keeping no copy: a photo refused for its size or
        its blob type (shared/jobs/not_kept.py), which a copy to `quarantine/` would keep. Safe to repeat, and pinned
        to `etag` as `quarantine` is (a device's lease broken first; NotFound when the version is gone)."""
        self._delete_version(self._unleased_version(blob_name, etag, "discard"), blob_name, etag)

    def _unleased_version(self, blob_name: str, etag: str, purpose: str) -> Any:
        """The photo's client once version `etag` is found there (else NotFound) with no lease the device took:
        sitelens never leases a photo, and a leased blob refuses a delete without its lease id."""
        source = self._blob(PHOTOS, blob_name)
        props = call(f"photo {blob_name}", source.get_blob_properties)
        if not ids.same_version(str(props.etag), etag):
            raise NotFound(f"photo {blob_name}: version {etag} is gone (now {props.etag})")
        if props.lease.state in ("leased", "breaking"):
            log.warning("photo %s carries a lease sitelens never takes; breaking it to %s it", blob_name, purpose)
            call(f"{purpose} lease", BlobLeaseClient(source).break_lease, lease_break_period=0)
        return source

    def _delete_version(self, source: Any, blob_name: str, etag: str) -> None:
        try:
            call("quarantine delete", source.delete_blob, delete_snapshots="include", etag=etag,
                 match_condition=MatchConditions.IfNotModified)  # fmt: skip
        except NotFound:
            pass  # deleted by an earlier run
        except Conflict as exc:
            if service_code(exc) == "LeaseIdMissing":  # leased again since: break it next time
                raise TransientError(f"photo {blob_name} was leased again while being quarantined") from exc
            if service_status(exc) != 412:
                raise  # a refusal of the delete itself, not a later version
            log.warning("photo %s was written again after its copy to quarantine; the later version stays", blob_name)

    def erase_photo(self, blob_name: str) -> int:
        """`photos/{name}` as it is now (a later write under the name is the same photo's), with its snapshots, and
        its copy in `quarantine/`; how many of the two there were. A lease a device took is broken first."""
        return sum(self._erase(self._blob(container, blob_name)) for container in (PHOTOS, QUARANTINE))

    def erase_job_blobs(self, job_id: str) -> int:
        """Every blob under the job's folder (batch_tasks/artifacts.py): its input, its result and its overlay."""
        erased = 0
        for container in (DERIVED, RESULTS):
            client = self.service.get_container_client(container)
            names = call(container, lambda c=client: [b.name for b in c.list_blobs(name_starts_with=f"{job_id}/")])
            erased += sum(self._erase(self._blob(container, name)) for name in names)
        return erased

    def _erase(self, blob: Any) -> int:
        """1 once deleted with its snapshots, 0 when it was not there."""
        what = f"erasing {blob.container_name}/{blob.blob_name}"
        for _ in range(2):
            try:
                call(what, blob.delete_blob, delete_snapshots="include")
                return 1
            except NotFound:
                return 0
            except Conflict as exc:
                if service_code(exc) != "LeaseIdMissing":
                    raise
                call(what, BlobLeaseClient(blob).break_lease, lease_break_period=0)  # sitelens never leases a photo
        raise TransientError(f"{what}: leased again as soon as its lease was broken")

    def model_registered(self, model: str) -> str:
        """For health checks: `models/{name}/{version}/manifest.json` exists (NotFound otherwise)."""
        call(f"model {model}", self._blob(MODELS, f"{model}/manifest.json").get_blob_properties)
        return model

    def read_result(self, path: str) -> bytes:
        return bytes(call(f"result {path}", lambda: self._blob(RESULTS, path).download_blob().readall()))

    def result_exists(self, path: str) -> bool:
        """One properties request (HEAD): a result is up to megabytes, and the status API asks on every GET."""
        return bool(call(f"result {path}", self._blob(RESULTS, path).exists))

    def read_link(self, container: str, path: str, ttl: timedelta) -> str:
        now = datetime.now(UTC)
        common: dict[str, Any] = {
            "account_name": self.service.account_name,
            "container_name": container,
            "blob_name": path,
            "permission": BlobSasPermissions(read=True),
            "start": now - CLOCK_SKEW,
            "expiry": now + ttl,
            "protocol": "https" if self._https_only else "https,http",
        }
        if self._account_key:
            sas = generate_blob_sas(account_key=self._account_key, **common)
        else:
            sas = generate_blob_sas(user_delegation_key=self._delegation_key(now, ttl), **common)
        return f"{self._blob(container, path).url}?{sas}"

    def _delegation_key(self, now: datetime, ttl: timedelta) -> UserDelegationKey:
        with self._lock:
            if self._delegation is None or self._delegation[1] < now + ttl + CLOCK_SKEW:
                expiry = now + max(ttl, timedelta(hours=1)) + timedelta(hours=1)
                key = call("user delegation key", self.service.get_user_delegation_key, now - CLOCK_SKEW, expiry)
                self._delegation = (key, expiry)
            return self._delegation[0]


class BlobRouting:
    """`models/routing.json`, re-read at most once a minute; absent means "the default model".

    So an edit (`sitelens models route`) reaches new photos within `ttl_s` of its write, without a
    redeploy or restart. A document that cannot be used (malformed, or unreadable for any reason but not
    existing) is logged, and the routes this process last read stay in force until it is fixed. A process
    that has read none (an instance started since: Functions scales out and to zero) has none to keep, and
    the default model is no stand-in for a site's own, so it raises TransientError: the photo waits,
    RECEIVED, for a later delivery or the reconciler's re-drive, and is routed once the document reads again.
    That refusal is kept for `ROUTING_RETRY_S`: calls within it raise it again without a read, so the
    document is read, and its problem logged, once per period however many photos arrive.
    """

    def __init__(self, service: BlobServiceClient, clock: Callable[[], float] = time.monotonic,
                 ttl_s: float = ROUTING_TTL_S) -> None:  # fmt: skip
        self._blob = service.get_blob_client(MODELS, "routing.json")
        self._clock, self._ttl_s = clock, ttl_s
        self._cached: tuple[float, routing.RoutingTable] | None = None  # the last table read, and when
        self._refused: tuple[float, TransientError] | None = None  # with no routes read: the refusal, and when

    def weights(self, site: str | None = None) -> list[tuple[str, int]]:
        """The routes for `site` (its own, else those for every site); None: those for every site."""
        return self.table().for_site(site)

    def table(self) -> routing.RoutingTable:
        if self._cached and self._clock() - self._cached[0] < self._ttl_s:
            return self._cached[1]
        if self._cached is None and self._refused and self._clock() - self._refused[0] < ROUTING_RETRY_S:
            refusal = self._refused[1]  # a fresh exception each time: one raised again keeps growing its traceback
            raise TransientError(str(refusal)) from refusal.__cause__
        try:
            table = routing.parse_table(call("routing.json", lambda: self._blob.download_blob().readall()))
        except NotFound:
            table = routing.RoutingTable()
        except SitelensError as exc:  # malformed (`bad_routing`), refused or not answered
            table = self._kept_through(exc)
        self._cached = (self._clock(), table)
        return table

    def _kept_through(self, exc: SitelensError) -> routing.RoutingTable:
        """The routes read before, kept in force while the document cannot be used; TransientError if none."""
        problem = "malformed" if exc.reason == "bad_routing" else "unreadable"
        if self._cached is None:
            log.error("models/routing.json is %s and this instance has read no routes yet: photos are not "
                      "routed (retried later) until it can be read (not read again for %.0f s): %s (%s)",
                      problem, ROUTING_RETRY_S, exc, exc.reason)  # fmt: skip
            refusal = TransientError(f"models/routing.json is {problem}; no routes to keep in force: {exc}")
            self._refused = (self._clock(), refusal)
            raise refusal from exc
        level = logging.WARNING if isinstance(exc, TransientError) else logging.ERROR
        log.log(level, "models/routing.json is %s; keeping the routes this instance read before: %s (%s)",
                problem, exc, exc.reason)  # fmt: skip
        return self._cached[1]
