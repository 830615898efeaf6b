"""Where `sitelens models publish|route|routes` find storage, and how a planned upload is carried out.

Two ways in: a connection string (`--connection-string`, else `AzureWebJobsStorage`, else the running local
stack's), or `--account-url https://ACCOUNT.blob.core.windows.net` signed in with Microsoft Entra ID
through `DefaultAzureCredential` (an `az login`, or a CI job's OIDC federation after `azure/login`), so a
pipeline needs no storage key. The identity needs "Storage Blob Data Contributor" on the `models` container.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings

from batch_tasks.models.publish import CONTAINER, Upload
from shared.config import STORAGE, expand_connection_string

REPO = Path(__file__).resolve().parents[1]
NO_STORAGE = f"no storage: pass --account-url or --connection-string, set {STORAGE}, or run `sitelens dev`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--connection-string", help=f"default: {STORAGE}, else the local stack's (.local/stack.json)")
    where.add_argument("--account-url", help="https://ACCOUNT.blob.core.windows.net, signed in with Entra ID")


def connection_string(given: str | None, environ: dict[str, str] | None = None) -> str | None:
    """`--connection-string`, else `AzureWebJobsStorage`, else the running local stack's, else None."""
    env = os.environ if environ is None else environ
    value = given or env.get(STORAGE)
    if value:
        return expand_connection_string(value)
    stack = REPO / ".local" / "stack.json"
    if stack.is_file():
        return str(json.loads(stack.read_text())["storage"]["connection_string"])
    return None


def blob_service(args: argparse.Namespace) -> BlobServiceClient | None:
    """The account the command's arguments name, or None when they name none."""
    if getattr(args, "account_url", None):
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only the Entra ID path needs it

        return BlobServiceClient(args.account_url, credential=DefaultAzureCredential())
    connection = connection_string(getattr(args, "connection_string", None))
    return BlobServiceClient.from_connection_string(connection) if connection else None


def models_container(service: BlobServiceClient) -> ContainerClient:
    """The `models` container, created when absent (locally; a deployment creates it)."""
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        with contextlib.suppress(ResourceExistsError):  # another publisher created it first
            container.create_container()
    return container


def upload_to(service: BlobServiceClient, uploads: list[Upload]) -> None:
    container = models_container(service)
    for item in uploads:  # in plan order: the manifest last
        with item.path.open("rb") as data:
            settings = ContentSettings(content_type=item.content_type)
            container.upload_blob(item.blob, data, overwrite=True, content_settings=settings)


def upload(uploads: list[Upload], connection: str) -> None:
    with BlobServiceClient.from_connection_string(connection) as service:
        upload_to(service, uploads)
