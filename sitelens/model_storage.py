"""Where `sitelens models publish|route|routes` find storage, and how a planned upload is carried out.

Two ways in: a connection string (`--connection-string`, else `AzureWebJobsStorage`, else the running local
stack's), or `--account-url https://ACCOUNT.blob.core.windows.net` signed in with Microsoft Entra ID
through `DefaultAzureCredential` (an `az login`, or a CI job's OIDC federation after `azure/login`), so a
pipeline needs no storage key. The identity needs "Storage Blob Data Contributor" on the `models` container.

`publish` holds a lease on `.publishing/NAME/VERSION` in that container while it checks and uploads one version,
so two publishers of the same version never interleave their files (docs/models.md, "Publish").
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient, ContainerClient, ContentSettings

from batch_tasks.models.publish import CONTAINER, MANIFEST, Upload
from shared.adapters.azure_errors import call, service_code, translated
from shared.config import STORAGE, expand_connection_string
from shared.errors import Conflict, NotFound, SitelensError

REPO = Path(__file__).resolve().parents[1]
NO_STORAGE = f"no storage: pass --account-url or --connection-string, set {STORAGE}, or run `sitelens dev`"
LOCKS = ".publishing/"  # a NAME starts with a letter or digit, so no model's blobs are under this prefix
LEASE_S = 60  # the longest finite lease: a publisher that dies frees its version within a minute
WAIT_S = 1800.0  # how long a publisher waits for another publish of the same version to end
RETRY_S = 1.0  # between tries to take a lease another publisher holds

Client = TypeVar("Client")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--connection-string", help=f"default: {STORAGE}, else the local stack's (.local/stack.json)")
    where.add_argument(
        "--account-url", type=account_url, help="https://ACCOUNT.blob.core.windows.net, signed in with Entra ID"
    )


def account_url(text: str) -> str:
    """An https URL with a host: a token is never sent over http, and anything else would be tried as a host name."""
    address = urllib.parse.urlsplit(text.strip())
    if address.scheme != "https" or not address.hostname or " " in text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an https URL with a host (https://ACCOUNT.blob.core.windows.net)"
        )
    return text.strip().rstrip("/")


class MalformedConnection(ValueError):
    """The connection string found does not parse. The message names where it came from and never the string
    itself, which may hold the account key."""

    def __init__(self, source: str) -> None:
        super().__init__(f"the connection string in {source} is malformed (not shown: it may hold an account key)")


def connection_string(given: str | None, environ: dict[str, str] | None = None) -> str | None:
    """`--connection-string`, else `AzureWebJobsStorage`, else the running local stack's, else None."""
    found = _found_connection(given, os.environ if environ is None else environ)
    return found[0] if found else None


def _found_connection(given: str | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    """The connection string `connection_string` takes, and the name of where it came from."""
    if given:
        return expand_connection_string(given), "--connection-string"
    if env.get(STORAGE):
        return expand_connection_string(env[STORAGE]), STORAGE
    stack = REPO / ".local" / "stack.json"
    if stack.is_file():
        return str(json.loads(stack.read_text())["storage"]["connection_string"]), str(stack)
    return None


def from_connection_string(build: Callable[[str], Client], given: str | None) -> Client | None:
    """`build` (a client's `from_connection_string`) over the connection string `connection_string` finds, or None
    when there is none.

    Raises:
        MalformedConnection: the SDK refused the string (a ValueError of its own), naming its source.
    """
    found = _found_connection(given, os.environ)
    if found is None:
        return None
    value, source = found
    try:
        return build(value)
    except ValueError:
        raise MalformedConnection(source) from None  # the SDK's error, kept out of any traceback, says no more


def blob_service(args: argparse.Namespace) -> BlobServiceClient | None:
    """The account the command's arguments name, or None when they name none.

    Raises:
        MalformedConnection: the connection string found does not parse.
    """
    if getattr(args, "account_url", None):
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only the Entra ID path needs it

        return BlobServiceClient(args.account_url, credential=DefaultAzureCredential())
    return from_connection_string(BlobServiceClient.from_connection_string, getattr(args, "connection_string", None))


def models_container(service: BlobServiceClient) -> ContainerClient:
    """The `models` container, created when absent (locally; a deployment creates it)."""
    container = service.get_container_client(CONTAINER)
    # Translated: storage unreachable or refusing is the command's one "not published" error, not a traceback.
    if not call(CONTAINER, container.exists):
        with contextlib.suppress(Conflict), translated(CONTAINER):  # another publisher created it first
            container.create_container()
    return container


class VersionPublished(ValueError):
    """The version is already published with another manifest (other files or settings)."""


def publish(service: BlobServiceClient, uploads: list[Upload], *, lease_s: int = LEASE_S,
            wait_s: float = WAIT_S) -> None:  # fmt: skip
    """Publish one version: refused, nothing uploaded, when it is stored with a different manifest; else its
    files, then its manifest.

    Check and upload are one critical section under a lease on the version's lock blob. Conditional writes
    alone do not make them one: the files go before the manifest (the commit point), and a file can neither
    be created only if absent (a publish that died halfway leaves files the next one must replace) nor
    compared and then replaced without a race; two publishers that both read "no manifest" each wrote every
    file, and the manifest written last could name the other's bytes. Under the lease, the second publisher
    waits, then reads the first's manifest: refused when it differs, else it writes the same bytes again.
    The lease is finite and renewed while the publish lasts (uploads of any length), so a publisher that
    dies frees the version within `lease_s`; it is renewed again right before each write, so a publisher
    that lost it (stalled for a whole lease) stops before writing more. Blob storage cannot fence one blob's
    writes by another blob's lease, so what remains is a stall of a whole lease between a renewal and the
    write after it. The manifest is written only if it is still absent, or still the one that was read, so
    a writer that takes no lease (`upload`) is never overwritten with another manifest either.

    Raises:
        VersionPublished: the version's stored manifest differs from the one to upload; nothing was uploaded.
        SitelensError: storage refused or did not answer, another publish of the version held it for longer
            than `wait_s`, or this publish lost its lease (files may be written then, never the manifest).
    """
    manifest = _manifest(uploads)
    container = models_container(service)
    lock = container.get_blob_client(LOCKS + manifest.blob.removesuffix("/" + MANIFEST))
    with _VersionLease(lock, lease_s, wait_s) as lease:
        read = refuse_replacing(service, uploads)
        for item in uploads:  # in plan order: the manifest last
            lease.renew()
            if item is not manifest:
                _put(container, item, overwrite=True)
                continue
            only_if: dict[str, Any] = {"overwrite": False} if read is None else \
                {"overwrite": True, "etag": read, "match_condition": MatchConditions.IfNotModified}  # fmt: skip
            try:
                _put(container, item, **only_if)
            except Conflict:  # a manifest was written meanwhile without the lease: keep it, say if it differs
                refuse_replacing(service, uploads)


def refuse_replacing(service: BlobServiceClient, uploads: list[Upload]) -> str | None:
    """Refuse to publish over a version stored with a different manifest: a node keeps a version it has
    downloaded, and a result is reused for a photo read before by the same model id, so one id must always
    mean one set of files. The same manifest (the same files, by their SHA-256) may be published again.

    Returns:
        The stored manifest's ETag, or None when the version has no manifest yet.

    Raises:
        VersionPublished: the version's stored manifest differs from the one to upload.
        SitelensError: storage refused or did not answer (`shared.adapters.azure_errors`).
    """
    manifest = _manifest(uploads)
    blob = service.get_container_client(CONTAINER).get_blob_client(manifest.blob)
    try:
        with translated(f"{CONTAINER}/{manifest.blob}"):
            download = blob.download_blob()
            stored = download.readall()
    except NotFound:  # the container or the version is not there yet
        return None
    if not same_manifest(stored, manifest.path.read_bytes()):
        version = manifest.blob.removesuffix("/" + MANIFEST)
        raise VersionPublished(f"{version} is already published with a different manifest (version_published); "
                               "publish the change as a new version")  # fmt: skip
    return str(download.properties.etag)


def same_manifest(stored: bytes, local: bytes) -> bool:
    """The one rule for "the same manifest", here and in infra/deploy.sh: equal JSON documents (key order and
    spacing aside). A stored manifest that is not JSON is never the one to publish."""
    try:
        return bool(json.loads(stored) == json.loads(local))
    except ValueError:
        return False


class _VersionLease:
    """A lease on one version's lock blob: waited for, renewed in the background while held, then released."""

    def __init__(self, lock: BlobClient, lease_s: int, wait_s: float) -> None:
        self.what = f"the publish lease on {CONTAINER}/{lock.blob_name}"
        self.lock, self.lease_s, self.wait_s = lock, lease_s, wait_s
        self.lease = BlobLeaseClient(lock)
        self.renewing = threading.Lock()  # the background renewal and the writer share one lease client
        self.stop = threading.Event()
        self.keeper = threading.Thread(target=self._keep, name=self.what, daemon=True)

    def __enter__(self) -> _VersionLease:
        with contextlib.suppress(Conflict), translated(self.what):
            self.lock.upload_blob(b"", overwrite=False)  # a lease needs a blob: the first publish creates it
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                with translated(self.what):
                    self.lease.acquire(lease_duration=self.lease_s)
                break
            except Conflict as exc:
                if service_code(exc) != "LeaseAlreadyPresent":
                    raise
                if time.monotonic() >= deadline:
                    raise Conflict(f"{self.what}: another publish of this version has held it for over "
                                   f"{self.wait_s:.0f}s; publish again later") from exc  # fmt: skip
            time.sleep(RETRY_S)  # another publisher holds it: its publish ends, or its lease runs out
        self.keeper.start()
        return self

    def renew(self) -> None:
        """Raises Conflict when the lease was lost: it ran out, and another publisher took or broke it."""
        with self.renewing:
            try:
                with translated(self.what):
                    self.lease.renew()
            except Conflict as exc:
                raise Conflict(f"{self.what} was lost (it ran out, then another publisher took it or broke it); "
                               "nothing more was written: publish again") from exc  # fmt: skip

    def _keep(self) -> None:
        while not self.stop.wait(self.lease_s / 4):  # three more tries before the lease would run out
            with contextlib.suppress(SitelensError):  # a lost lease stops the writer at its next renew
                self.renew()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop.set()
        self.keeper.join()
        with contextlib.suppress(SitelensError), translated(self.what):
            self.lease.release()  # else it runs out by itself within lease_s


def _manifest(uploads: list[Upload]) -> Upload:
    return next(u for u in uploads if u.blob.endswith("/" + MANIFEST))


def _put(container: ContainerClient, item: Upload, **conditions: Any) -> None:
    with item.path.open("rb") as data, translated(f"{CONTAINER}/{item.blob}"):
        container.upload_blob(item.blob, data, content_settings=ContentSettings(content_type=item.content_type),
                              **conditions)  # fmt: skip


def upload(uploads: list[Upload], connection: str) -> None:
    """Upload without `publish`'s lease and check: the local stack seeds its own storage with the repository's
    model at every start. A blob that already holds its file's bytes is left as it is: Azurite keeps a
    replaced blob's old bytes on disk until its garbage collection, minutes later."""
    with BlobServiceClient.from_connection_string(connection) as service:
        container = models_container(service)
        for item in uploads:  # in plan order: the manifest last
            if not _stored(container, item):
                _put(container, item, overwrite=True)


def _stored(container: ContainerClient, item: Upload) -> bool:
    """Whether `item`'s blob has its file's size and MD5, which storage computes for a blob put in one request
    (up to 64 MiB); a blob put in blocks has none, and is put again."""
    try:
        with translated(f"{CONTAINER}/{item.blob}"):
            stored = container.get_blob_client(item.blob).get_blob_properties()
    except NotFound:
        return False
    md5 = stored.content_settings.content_md5
    if not md5 or stored.size != item.path.stat().st_size:
        return False
    with item.path.open("rb") as data:
        return bytes(md5) == hashlib.file_digest(data, "md5").digest()
