"""`sitelens upload PATH… --site S --device D`: upload photos like a field device and print their job ids.

The API is the local stack's (`.local/stack.json`, or the `--state-dir` a demo uses) unless `--api`/`--key`
or `SITELENS_API`/`SITELENS_API_KEY` name another. Exit status: 0 all uploaded, 1 any photo failed, 2 usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from batch_tasks import telemetry
from sitelens.api_client import ApiClient, ApiError
from sitelens.upload import Answer, BlobFactory, Outcome, Requester, Uploader, UploadFailed, blob_client
from sitelens.upload_progress import MIB, Progress

REPO = Path(__file__).resolve().parents[1]
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kKmM]?)(?:i?[bB])?")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("upload", help="upload photos like a field device and print their job ids")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="JPEG or PNG files")
    p.add_argument("--site", required=True, help="site id")
    p.add_argument("--device", required=True, help="device id")
    p.add_argument("--photo-id", help="the photo id (one PATH only; default: file name and content hash)")
    p.add_argument("--api", help="API base URL ending in /api (default: $SITELENS_API, else the local stack)")
    p.add_argument("--key", help="function key (default: $SITELENS_API_KEY, else the local stack's host key)")
    p.add_argument("--block-size", type=parse_size, default=4 * MIB, help="block size, e.g. 4MiB (default)")
    p.add_argument("--json", action="store_true", help="print one JSON document with every outcome")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where the local stack's stack.json is")
    p.set_defaults(handler=run)


def parse_size(text: str) -> int:
    match = SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 4MiB or 512KiB)")
    value = int(float(match[1]) * {"": 1, "k": 1024, "m": MIB}[match[2].lower()])
    if not 1024 <= value <= 100 * MIB:
        raise argparse.ArgumentTypeError("the block size must be between 1KiB and 100MiB")
    return value


def resolve_endpoint(
    api: str | None, key: str | None, env: Mapping[str, str], state_dir: Path
) -> tuple[str, str | None]:
    """(API base, function key): flags, then the environment, then the local stack's file. A base that is not an
    http(s) URL with a host is refused here, not later as an unreachable network."""
    api, key = api or env.get("SITELENS_API"), key or env.get("SITELENS_API_KEY")
    if api:
        try:
            address = urllib.parse.urlsplit(api.strip())
            usable = address.scheme in ("http", "https") and bool(address.hostname) and address.port != 0
        except ValueError:  # a broken IPv6 literal, a port that is not a number from 0 to 65535
            usable = False
        if not usable:
            raise UploadFailed("bad_endpoint", f"--api / SITELENS_API must be an http(s) URL such as "
                               f"https://APP.azurewebsites.net/api, not {api!r}")  # fmt: skip
        return api.strip().rstrip("/"), key
    stack = state_dir / "stack.json"
    try:
        doc = json.loads(stack.read_text())
        return str(doc["functions"]["api"]).rstrip("/"), key or doc["functions"].get("host_key")
    except (OSError, ValueError, KeyError, TypeError):
        raise UploadFailed("no_endpoint", f"no {stack}: start the local stack (sitelens dev) or pass --api") from None


def telemetry_env(env: Mapping[str, str], state_dir: Path) -> dict[str, str]:
    """The environment, with the local stack's telemetry folder when none is set and a stack is running."""
    found = dict(env)
    if not found.get(telemetry.DIR_ENV):
        # No local stack: the upload's span goes wherever the environment says, or nowhere.
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            found[telemetry.DIR_ENV] = str(json.loads((state_dir / "stack.json").read_text())["telemetry_dir"])
    return found


def http_requester(base: str, key: str | None) -> Requester:
    client = ApiClient(base, key)

    def post(body: dict[str, Any]) -> Answer:
        try:
            return Answer(*client.exchange("POST", "/uploads", body))
        except ApiError as exc:  # a refusal's Retry-After travels with it: the uploader waits as asked
            return Answer(exc.status, exc.doc, exc.retry_after)

    return post


def run(args: argparse.Namespace, requester: Requester | None = None, blob_factory: BlobFactory = blob_client,
        out: TextIO | None = None, err: TextIO | None = None) -> int:  # fmt: skip
    out, err = out or sys.stdout, err or sys.stderr
    if args.photo_id and len(args.paths) > 1:
        err.write("--photo-id names one photo: give a single PATH\n")
        return 2
    if requester is None:
        try:
            requester = http_requester(*resolve_endpoint(args.api, args.key, os.environ, args.state_dir))
        except UploadFailed as exc:
            err.write(f"{exc}\n")
            return 2
    uploader = Uploader(requester, site=args.site, device=args.device, block_size=args.block_size,
                        blob_factory=blob_factory, progress=Progress(err))  # fmt: skip
    telemetry.setup("sitelens-upload", telemetry_env(os.environ, args.state_dir))
    n = len(args.paths)
    outcomes = [uploader.upload(path, args.photo_id, f"[{i}/{n}] {path.name}") for i, path in enumerate(args.paths, 1)]
    telemetry.flush()
    report(outcomes, args.json, out, err)
    return 1 if any(o.status == "failed" for o in outcomes) else 0


def report(outcomes: Sequence[Outcome], as_json: bool, out: TextIO, err: TextIO) -> None:
    if as_json:
        out.write(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    for o in outcomes:
        if o.status == "failed":
            err.write(f"{o.path}: FAILED {o.reason}\n")
        elif not as_json:
            note = " (already uploaded)" if o.status == "already_uploaded" else ""
            out.write(f"{o.path} -> {o.job_id}{note}\n")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("uploaded", "already_uploaded", "failed")}
    err.write(f"{len(outcomes)} photo(s): {counts['uploaded']} uploaded, {counts['already_uploaded']} already "
              f"uploaded, {counts['failed']} failed\n")  # fmt: skip
