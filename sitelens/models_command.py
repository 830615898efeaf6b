"""`sitelens models fetch|publish`: get the default model, put a model folder into storage."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from batch_tasks.models.fetch import FetchError, fetch
from batch_tasks.models.manifest import ManifestError
from batch_tasks.models.publish import publish
from shared.config import expand_connection_string

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DEST = REPO / "models" / "ocr" / "ppocrv4"
CACHE = REPO / ".local" / "cache"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("models", help="model folders: fetch the default model, publish to storage")
    sub = group.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    f = sub.add_parser("fetch", help="fetch and verify PP-OCRv4 (idempotent, cached)")
    f.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    f.add_argument("--cache", type=Path, default=CACHE)
    f.set_defaults(handler=run_fetch)
    p = sub.add_parser("publish", help="upload a model folder to the 'models' container")
    p.add_argument("folder", type=Path, nargs="?", default=DEFAULT_DEST)
    p.add_argument("--connection-string", help="default: AzureWebJobsStorage, else .local/stack.json")
    p.set_defaults(handler=run_publish)


def run_fetch(args: argparse.Namespace) -> int:
    try:
        changed = fetch(args.dest, args.cache)
    except (FetchError, ManifestError) as exc:
        print(f"models fetch: {exc}")
        return 1
    print(f"{args.dest}: {'fetched and verified' if changed else 'already present and verified'}")
    return 0


def _connection_string(given: str | None) -> str | None:
    if given or os.environ.get("AzureWebJobsStorage"):
        return expand_connection_string(given or os.environ["AzureWebJobsStorage"])
    stack = REPO / ".local" / "stack.json"
    if stack.is_file():
        return str(json.loads(stack.read_text())["storage"]["connection_string"])
    return None


def run_publish(args: argparse.Namespace) -> int:
    connection = _connection_string(args.connection_string)
    if connection is None:
        print("models publish: no storage: pass --connection-string, set AzureWebJobsStorage, or run `sitelens dev`")
        return 1
    try:
        names = publish(args.folder, BlobServiceClient.from_connection_string(connection))
    except ManifestError as exc:
        print(f"models publish: {exc}")
        return 1
    for name in names:
        print(f"models/{name}")
    return 0
