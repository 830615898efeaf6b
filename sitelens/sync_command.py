"""`sitelens sync DIR --site S --device D`: the field sync agent (sync_agent.py) as a command or a service.

The endpoint is found as `sitelens upload` finds it (`SITELENS_API`/`SITELENS_API_KEY`, or `--api`/`--key`,
or the local stack). The journal and the status file live in `--sync-state` (default `DIR/.sitelens-sync`).
Exit codes (docs/field.md): 0 everything sent, 1 a photo refused for good, 2 usage (a `--site` or `--device`
the API would refuse, too, or a journal kept for another API or site), 3 (`--once`) photos left for a later run
because the API or storage did not answer, or a stop (SIGTERM, SIGINT) came first.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
import urllib.parse
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from shared.errors import InvalidInput
from shared.uploads.naming import check_id
from sitelens.api_client import ApiClient, ApiError
from sitelens.sync_agent import EXIT_OK, EXIT_USAGE, Agent, JobLookup, LookupRefused, SyncSettings
from sitelens.sync_journal import OWNER, Journal
from sitelens.upload import Uploader, UploadFailed
from sitelens.upload_command import REPO, http_requester, parse_size, resolve_endpoint
from sitelens.upload_progress import MIB, Progress

log = logging.getLogger("sitelens.sync")
DEFAULT_PORTS = {"http": 80, "https": 443}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("sync", help="watch a drop folder and upload every new photo once")
    p.add_argument("folder", type=Path, metavar="DIR", help="the folder a camera drops photos into")
    p.add_argument("--site", required=True, type=partial(id_arg, field="site_id"), help="site id")
    p.add_argument("--device", required=True, type=partial(id_arg, field="device_id"), help="device id")
    p.add_argument("--api", help="API base URL ending in /api (default: $SITELENS_API, else the local stack)")
    p.add_argument("--key", help="function key (default: $SITELENS_API_KEY, else the local stack's host key)")
    p.add_argument("--once", action="store_true", help="upload what is there (once settled), then exit")
    p.add_argument("--settle", type=float, default=5.0, metavar="S",
                   help="seconds a file's size and mtime must hold before it is taken (default 5)")  # fmt: skip
    p.add_argument("--poll", type=float, default=2.0, metavar="S", help="seconds between passes (default 2)")
    p.add_argument("--max-backoff", type=float, default=300.0, metavar="S",
                   help="the longest wait between tries while offline (default 300)")  # fmt: skip
    p.add_argument("--bandwidth", type=parse_rate, metavar="RATE", help="upload cap, e.g. 512KiB (per second)")
    p.add_argument("--block-size", type=parse_size, default=4 * MIB, help="block size, e.g. 1MiB (default 4MiB)")
    p.add_argument("--move-done", type=Path, metavar="DIR", help="move each photo here once its job is known")
    p.add_argument("--sync-state", type=Path, metavar="DIR",
                   help="where the journal and status.json live (default DIR/.sitelens-sync)")  # fmt: skip
    p.add_argument("--status-file", type=Path, help="the status JSON (default: status.json in --sync-state)")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where the local stack's stack.json is")
    p.set_defaults(handler=run)


def parse_rate(text: str) -> int:
    """A bandwidth such as 512KiB or 2MiB (per second); the same units as --block-size, from 1 KiB/s."""
    try:
        return parse_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"not a rate: {text!r} (try 512KiB or 2MiB, per second)") from None


def id_arg(text: str, field: str) -> str:
    """--site and --device, checked by the API's own rule: the API refuses any other id for good (400
    `invalid_site_id`), which the agent, taking any refusal not about a photo for the link's, would retry forever."""
    try:
        return check_id(text, field)
    except InvalidInput as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def job_lookup(client: ApiClient) -> JobLookup:
    def lookup(job_id: str) -> dict[str, Any] | None:
        try:
            return client.get(f"/jobs/{job_id}")
        except ApiError as exc:
            # Any other 404 (the host's, while no function serves the path) says nothing of the job: asked again later
            if exc.not_found:
                return None
            raise LookupRefused(f"GET /jobs/{job_id}: {exc}", exc.retry_after) from None  # not the job: later

    return lookup


def api_identity(base: str) -> str:
    """The deployment an API base URL names, as the journal records it: scheme, host, port (but the scheme's own) and
    path without a trailing slash, in lower case where URLs ignore it; never a query or a user, which may be secret."""
    address = urllib.parse.urlsplit(base.strip())
    host = address.hostname or ""
    host = f"[{host}]" if ":" in host else host  # an IPv6 address keeps its brackets
    port = "" if address.port in (None, DEFAULT_PORTS.get(address.scheme)) else f":{address.port}"
    return f"{address.scheme}://{host}{port}{address.path.rstrip('/')}"


def owned(journal: Journal, path: Path, owner: dict[str, str]) -> bool:
    """Whether the journal's rows are this run's API's and site's (sync_journal.OWNER): a row says a photo went to the
    API and site it records, and which job to ask that API after. Under another, every photo it holds would count as
    sent and never reach it, and each job in flight would be asked after there in vain, then end `unknown`. The device
    is not recorded: a job is asked after by its id alone, and a photo sent under an earlier device id is the site's."""
    recorded = journal.recorded_owner
    if all(recorded.get(key, given) == given for key, given in owner.items()):
        if len(recorded) < len(owner) and any(n for state, n in journal.counts().items() if state != "duplicates"):
            log.warning("%s records no API or site (an earlier release wrote it): its photos are taken as sent to %s, "
                        "site %s", path, owner["api"], owner["site"])  # fmt: skip
        return True
    values = "".join(
        f"  {key}: recorded {recorded.get(key, '(none)')}, given {given}\n" for key, given in owner.items()
    )
    sys.stderr.write(
        f"{path} was kept for another API or site:\n{values}The photos it counts as sent went there, and the jobs "
        "it asks after are that API's: none of them would reach this one. To sync this folder to the API "
        "and site given, name a new state folder (--sync-state DIR), or delete this journal (and its -wal and -shm "
        "files, if any): either way, every photo in the folder is sent again.\n"
    )
    return False


def run(args: argparse.Namespace) -> int:
    if not args.folder.is_dir():
        sys.stderr.write(f"{args.folder}: not a folder\n")
        return EXIT_USAGE
    try:
        base, key = resolve_endpoint(args.api, args.key, os.environ, args.state_dir)
    except UploadFailed as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_USAGE
    state = args.sync_state or args.folder / ".sitelens-sync"
    owner = dict(zip(OWNER, (api_identity(base), args.site), strict=True))
    journal = Journal(state / "journal.sqlite3", owner=owner)
    if not owned(journal, state / "journal.sqlite3", owner):
        journal.close()
        return EXIT_USAGE
    # Any Retry-After fails the photo at once, and the agent waits it out between passes, where a stop ends the wait.
    uploader = Uploader(http_requester(base, key), site=args.site, device=args.device, block_size=args.block_size,
                        progress=Progress(sys.stderr), bytes_per_s=args.bandwidth, longest_wait_s=0.0)  # fmt: skip
    settings = SyncSettings(args.folder, settle_s=args.settle, poll_s=min(args.poll, max(args.settle / 2, 0.1)),
                            backoff_cap_s=args.max_backoff, move_done=args.move_done)  # fmt: skip
    agent = Agent(settings, journal, uploader.upload, job_lookup(ApiClient(base, key)),
                  args.status_file or state / "status.json")  # fmt: skip
    stop = threading.Event()
    # With --once too: a systemd timer's oneshot unit is stopped with SIGTERM, and the upload in flight must finish,
    # the journal close and the status file say "stopped", as for the service (docs/field.md, exit codes).
    _stop_on_signals(stop)
    log.info("syncing %s to %s as site %s, device %s%s", args.folder, base, args.site, args.device,
             " (once)" if args.once else "")  # fmt: skip
    # --once ends even if a file never stops changing: what is still settling is left for the next run (exit 3).
    give_up = time.monotonic() + max(60.0, 10 * args.settle)
    try:
        while not stop.is_set():
            agent.step(stop.is_set)
            if args.once and (agent.idle() or time.monotonic() > give_up):
                break
            stop.wait(settings.poll_s if args.once else agent.wait_s())
        code = agent.exit_code() if args.once else EXIT_OK
        agent.write_status("stopped")
        return code
    finally:
        journal.close()


def _stop(stop: threading.Event, signum: int) -> None:
    stop.set()
    log.info("stopping on signal %d", signum)  # after the set: once this is logged, no other upload starts


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (systemd's stop) and SIGINT let the upload in flight finish, start no other, then exit: 0, or with
    --once the run's own code (3 while photos are left for a later run)."""

    def handle(signum: int, frame: FrameType | None) -> None:
        # Not here: setting the event and logging take locks the interrupted main thread may hold (in stop.wait).
        threading.Thread(target=_stop, args=(stop, signum), daemon=True).start()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
