"""`sitelens upload PATH… --site S --device D`: upload photos like a field device and print their job ids.

The API is the local stack's (`.local/stack.json`, or the `--state-dir` a demo uses) unless `--api`/`--key`
or `SITELENS_API`/`SITELENS_API_KEY` name another. Each photo's line is printed as it finishes. Exit status: 0 all
uploaded, 1 a photo failed for good, 2 usage, 3 every failed photo failed for a while only (the API or storage did not
answer, was busy, or asked to wait: a later run can get past it), 130 interrupted (Ctrl-C; the finished are reported),
141 the reader of stdout or stderr left (`| head -n1`, `2>&1 | head`): every photo was still attempted, and the summary
on stderr, while it is read, says how it went.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import sys
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO, cast

from batch_tasks import telemetry
from shared.errors import TransientError
from sitelens.api_client import ApiClient, ApiError
from sitelens.upload import (
    RETRYABLE_STATUS,
    Answer,
    BlobFactory,
    Outcome,
    Requester,
    Uploader,
    UploadFailed,
    blob_client,
)
from sitelens.upload_progress import MIB, Progress

REPO = Path(__file__).resolve().parents[1]
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kKmM]?)(?:i?[bB])?")
# A failed photo's reason codes that a later run gets past by itself: no answer, the API's own `transient` (its 503),
# and a status the upload retries (408, 429, 5xx) that ran out of retries. An answer that asked for a wait (the hourly
# reservation cap) is one too, whatever its code.
PASSING = frozenset({"unreachable", TransientError.reason,
                     *(f"{side}_{status}" for side in ("http", "storage") for status in RETRYABLE_STATUS)})  # fmt: skip
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LATER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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
    http(s) URL with a host is refused here, not later as an unreachable network; so is a key no header can carry."""
    api, key = api or env.get("SITELENS_API"), _stripped(key) or _stripped(env.get("SITELENS_API_KEY"))
    if api:
        try:
            address = urllib.parse.urlsplit(api.strip())
            usable = address.scheme in ("http", "https") and bool(address.hostname) and address.port != 0
        except ValueError:  # a broken IPv6 literal, a port that is not a number from 0 to 65535
            usable = False
        if not usable:
            raise UploadFailed("bad_endpoint", f"--api / SITELENS_API must be an http(s) URL such as "
                               f"https://APP.azurewebsites.net/api, not {api!r}")  # fmt: skip
        return api.strip().rstrip("/"), _header_safe(key)
    stack = state_dir / "stack.json"
    try:
        doc = json.loads(stack.read_text())
        base, key = str(doc["functions"]["api"]).rstrip("/"), key or _stripped(doc["functions"].get("host_key"))
    except (OSError, ValueError, KeyError, TypeError):
        raise UploadFailed("no_endpoint", f"no {stack}: start the local stack (sitelens dev) or pass --api") from None
    return base, _header_safe(key)


def _stripped(key: str | None) -> str | None:
    """A key read from a file or a secret store (`--key "$(cat key.txt)"`) often ends in a line break, CR LF from
    Windows: the whitespace around a key is never part of it."""
    return (key.strip() or None) if key else None


def _header_safe(key: str | None) -> str | None:
    """The key, if `x-functions-key` can carry it: printable ASCII. Anything else (a line break inside it) would fail
    in the HTTP library with the key in its message, printed and logged on every restart of the agent: refused
    here, without the key."""
    if key and not (key.isascii() and key.isprintable()):
        raise UploadFailed("bad_key", "the function key (--key, SITELENS_API_KEY or the stack file's host key) has "
                           "a control character or one that is not ASCII in it; it is not shown here")  # fmt: skip
    return key


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
        return EXIT_USAGE
    if requester is None:
        try:
            requester = http_requester(*resolve_endpoint(args.api, args.key, os.environ, args.state_dir))
        except UploadFailed as exc:
            err.write(f"{exc}\n")
            return EXIT_USAGE
    # Both streams outlive their readers: with `2>&1 | head` a FAILED line or the bar is the first write after the
    # reader left, and the photos after it would never be attempted.
    lines, notes = Lines(out), Lines(err)
    # Progress writes and flushes only, which Lines does; it is asked whether stderr is a terminal here.
    progress = Progress(cast("TextIO", notes), enabled=err.isatty())
    uploader = Uploader(requester, site=args.site, device=args.device, block_size=args.block_size,
                        blob_factory=blob_factory, progress=progress)  # fmt: skip
    telemetry.setup("sitelens-upload", telemetry_env(os.environ, args.state_dir))
    n, outcomes = len(args.paths), []
    try:
        for i, path in enumerate(args.paths, 1):
            outcomes.append(uploader.upload(path, args.photo_id, f"[{i}/{n}] {path.name}"))
            # At once, not after the last photo: the job ids of the photos committed so far survive a Ctrl-C or a kill.
            print_outcome(outcomes[-1], args.json, lines, notes)
    except KeyboardInterrupt:
        summarise(outcomes, n, args.json, lines, notes)
        return EXIT_INTERRUPTED
    telemetry.flush()
    summarise(outcomes, n, args.json, lines, notes)
    if lines.gone or notes.gone:  # cli.main ends it as a process killed by SIGPIPE: 141, whatever became of the photos
        notes.write("stdout was closed early: every photo was still attempted, as counted above\n")
        raise BrokenPipeError(errno.EPIPE, f"{'stdout' if lines.gone else 'stderr'} was closed by its reader")
    failed = [o for o in outcomes if o.status == "failed"]
    if not failed:
        return EXIT_OK
    return EXIT_LATER if all(passing(o) for o in failed) else EXIT_FAILED


def passing(outcome: Outcome) -> bool:
    """Whether a failed photo failed only for a while (`PASSING`), so that a script knows to run it again later."""
    return outcome.retry_after is not None or (outcome.reason or "").split(":", 1)[0] in PASSING


class Lines:
    """stdout or stderr, which the command outlives: once its reader has gone (`| head -n1`, `2>&1 | head`: a
    BrokenPipeError), what follows is dropped and `gone` says so. Uploading is what the command is for, so the photos
    left go all the same."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.gone = stream, False

    def write(self, text: str) -> None:
        if self.gone:
            return
        try:
            self.stream.write(text)
            self.stream.flush()  # a pipe (`| tee ids.txt`) gets each id as it is known
        except BrokenPipeError:
            self.gone = True

    def flush(self) -> None:  # each write is flushed already; Progress flushes after each redraw all the same
        pass


def print_outcome(o: Outcome, as_json: bool, out: Lines, err: Lines) -> None:
    if o.status == "failed":
        err.write(f"{o.path}: FAILED {o.reason}\n")
    elif not as_json:
        note = " (already uploaded)" if o.status == "already_uploaded" else ""
        out.write(f"{o.path} -> {o.job_id}{note}\n")


def summarise(outcomes: Sequence[Outcome], given: int, as_json: bool, out: Lines, err: Lines) -> None:
    """`--json`'s one document, of the photos finished, and the counts; fewer finished than given: interrupted."""
    if as_json:
        out.write(json.dumps([asdict(o) for o in outcomes], indent=2) + "\n")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("uploaded", "already_uploaded", "failed")}
    left = f"; interrupted: {given - len(outcomes)} not finished" if len(outcomes) < given else ""
    err.write(f"{len(outcomes)} photo(s): {counts['uploaded']} uploaded, {counts['already_uploaded']} already "
              f"uploaded, {counts['failed']} failed{left}\n")  # fmt: skip
