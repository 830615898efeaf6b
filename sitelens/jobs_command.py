"""`sitelens jobs list|get|watch|open`: the status API (docs/api.md) from a terminal.

The endpoint is found as `sitelens upload` finds it: `SITELENS_API`/`SITELENS_API_KEY` (preferred: a command
line is visible to other users), `--api`/`--key`, or the local stack's `stack.json`.
`list --site` shows the last 24 h's jobs unless `--since` or `--all` says otherwise. `watch --site`
watches the site's jobs that are in flight when it starts and those that arrive while it runs (none in
flight: it waits for the next one); jobs already terminal at its start are history, never watched.
Exit codes: 0 done (and, for `watch`, every watched job SUCCEEDED), 1 a watched job FAILED or was REJECTED,
or the API refused (404 for an unknown job, or for a watched one erased since), 2 usage or no endpoint, 3 the API
did not answer (or answered that it is busy: 429, 502, 503, 504), 130 interrupted (Ctrl-C). `watch` waits out a
busy or silent API, and a job the API does not know yet, for up to `GIVE_UP_S` before exit 3: try again later.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from shared.jobs.ids import JOB_ID
from sitelens.api_client import BUSY, ApiClient, ApiError, rfc3339
from sitelens.jobs_site_poll import TERMINAL, SitePoll
from sitelens.upload import UploadFailed
from sitelens.upload_command import REPO, resolve_endpoint

COLUMNS = (("id", 28), ("state", 9), ("device", 12), ("photo_id", 28), ("received", 20), ("reason", 20))
GIVE_UP_S = 300.0  # five minutes of no answer (or of a job not known yet) from the API: come back later
# `watch --site --since` defaults to 48h: twice the 24 h bound (docs/reliability.md); a later give-up needs more.
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}  # `--since 90m`, `24h`, `7d`


class CommandFailed(Exception):
    """A failure with its message for the terminal and its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def job_id(text: str) -> str:
    """The JOB argument: a job id, checked before it goes into a URL (`j_x?site=…` would ask another route)."""
    if not JOB_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a job id: {text!r} (j_ and 26 of a-z, 2-7)")
    return text


def since_arg(text: str) -> datetime:
    """`--since`: how long ago (`90m`, `24h`, `7d`), or an ISO 8601 time (without a zone: UTC, as the API's)."""
    try:
        if text[-1:] in UNITS and text[:-1].isdigit():
            return datetime.now(UTC) - int(text[:-1]) * UNITS[text[-1]]
        at = datetime.fromisoformat(text)
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a time or a duration: {text!r} (e.g. 7d, 2026-11-22T08:00Z)") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("jobs", help="list, show, watch and open jobs through the status API")
    p.add_argument("--api", help="API base URL ending in /api (default: $SITELENS_API, else the local stack)")
    p.add_argument("--key", help="function key (default: $SITELENS_API_KEY, else the local stack's host key)")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where the local stack's stack.json is")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="a site's jobs of the last 24 h (or since a time), oldest first")
    listing.add_argument("--site", required=True)
    window = listing.add_mutually_exclusive_group()
    window.add_argument("--since", type=since_arg, metavar="WHEN", default="24h",
                        help="received at or after WHEN: how long ago (90m, 24h: default, 7d) or a time")  # fmt: skip
    window.add_argument("--all", action="store_true", help="every job the site ever had (a long history is slow)")
    listing.add_argument("--state", choices=("RECEIVED", "QUEUED", "RUNNING", *TERMINAL), help="only this state")
    listing.add_argument("--json", action="store_true", help="the jobs as one JSON array")
    get = sub.add_parser("get", help="one job's status document")
    get.add_argument("job", type=job_id)
    get.add_argument("--json", action="store_true", help="the document as the API sends it")
    watch = sub.add_parser("watch", help="print each change until the job (or a site's jobs in flight) is terminal")
    target = watch.add_mutually_exclusive_group(required=True)
    target.add_argument("job", nargs="?", type=job_id)
    target.add_argument("--site")
    watch.add_argument("--since", type=since_arg, metavar="WHEN", default="48h", help="--site: in flight since (48h)")
    watch.add_argument("--interval", type=float, default=5.0,
                       help="least seconds between polls (default 5; the API's Retry-After if longer)")  # fmt: skip
    opened = sub.add_parser("open", help="download a finished job's overlay and print its text")
    opened.add_argument("job", type=job_id)
    opened.add_argument("--out", type=Path, help="where the overlay goes (default ./JOB.overlay.jpg)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None,
        stop: threading.Event | None = None) -> int:  # fmt: skip
    out, err = out or sys.stdout, err or sys.stderr
    try:
        client = ApiClient(*resolve_endpoint(args.api, args.key, os.environ, args.state_dir))
    except UploadFailed as exc:
        err.write(f"{exc}\n")
        return 2
    actions = {"list": lambda: list_jobs(client, args, out), "get": lambda: get_job(client, args, out),
               "watch": lambda: watch(client, args, out, stop or threading.Event(), err=err),
               "open": lambda: open_job(client, args, out, err)}  # fmt: skip
    try:
        return actions[args.action]()
    except CommandFailed as exc:
        err.write(f"{exc}\n")
        return exc.code
    except ApiError as exc:
        err.write(f"{exc}" + (" (the API is busy: try again later)\n" if exc.transient else "\n"))
        return 3 if exc.transient else 1
    except BrokenPipeError:  # stdout closed (`| head`): not the API's fault, and not worth a retry (cli.main)
        raise
    except OSError as exc:
        err.write(f"unreachable: {exc}\n")
        return 3
    except KeyboardInterrupt:  # Ctrl-C ends a `watch` (it can wait for the next job): a line, not a traceback
        err.write("interrupted\n")
        return 130


def list_jobs(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    since = None if args.all else args.since
    jobs = client.site_jobs(args.site, since=since, state=args.state)
    out.write(json.dumps(jobs, indent=2) + "\n" if args.json else table(jobs, since))
    return 0


def table(jobs: Sequence[dict[str, Any]], since: datetime | None = None) -> str:
    lines = ["  ".join(name.upper().ljust(width) for name, width in COLUMNS).rstrip()]
    for job in jobs:
        cells = {**job, "received": (job.get("timings") or {}).get("received_at") or "",
                 "reason": job.get("reason") or ("cached" if job.get("cached") else "")}  # fmt: skip
        lines.append("  ".join(str(cells.get(name) or "").ljust(width) for name, width in COLUMNS).rstrip())
    lines.append(f"{len(jobs)} job(s)" + (f" received since {rfc3339(since, 'seconds')}" if since else ""))
    return "\n".join(lines) + "\n"


def get_job(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    doc = client.get(f"/jobs/{args.job}")
    out.write(json.dumps(doc, indent=2) + "\n" if args.json else describe(doc))
    return 0


def describe(doc: dict[str, Any]) -> str:
    timings = doc.get("timings") or {}
    lines = [f"{doc['id']}  {doc['state']}" + (f"  {doc['reason']}: {doc.get('detail')}" if doc.get("reason") else ""),
             f"  site {doc.get('site')}, device {doc.get('device')}, photo {doc.get('photo_id')}",
             f"  model {doc.get('model')}, attempts {doc.get('attempts')}, cached {doc.get('cached')}",
             f"  received {timings.get('received_at')}, finished {timings.get('finished_at')}"]  # fmt: skip
    summary = (doc.get("result") or {}).get("summary") or {}
    lines += [f"  | {line}" for line in read_out(summary)]
    return "\n".join(lines) + "\n"


def read_out(summary: dict[str, Any]) -> list[str]:
    """What the model read, one line each: OCR's text, a classifier's top labels, a detector's boxes."""
    kind = summary.get("kind", "ocr")
    if kind == "classify":
        return [f"{item['label']}  {item['score']:.2f}" for item in summary.get("labels") or []]
    if kind == "detect":
        best = [f"{b['label']}  {b['score']:.2f}  [{', '.join(f'{v:.0f}' for v in b['box'])}]"
                for b in summary.get("best") or []]  # fmt: skip
        return [f"{summary.get('boxes', 0)} boxes", *best]
    return [str(line) for line in summary.get("text") or []]


def watch(client: ApiClient, args: argparse.Namespace, out: TextIO, stop: threading.Event, *,
          err: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> int:  # fmt: skip
    """Poll at the API's pace and print a line for each job whose state changed, until all are terminal.

    The pause between polls is `--interval` or the API's Retry-After, whichever is longer. A busy answer (429,
    502-504), none at all or a job not known yet is waited out alike, up to `GIVE_UP_S` of nothing but those.
    """
    seen: dict[str, str] = {}  # each watched job's last state: what is printed and what the exit code counts
    poll = (SitePoll(client, args.site, seen, err or sys.stderr, args.since) if args.site
            else functools.partial(_poll, client, args.job))  # fmt: skip
    failing_since: float | None = None
    told = False  # whether "not yet" was said: once, not once per poll
    while True:
        try:
            jobs, asked = poll()
        except (ApiError, OSError) as exc:
            not_found = _waited_out(exc, args.job, seen)
            failing_since = clock() if failing_since is None else failing_since
            if clock() - failing_since >= GIVE_UP_S:
                if not_found:  # ingestion can take some 40 minutes via its poison queue, or days: not lost
                    raise CommandFailed(f"{args.job}: not found yet after {GIVE_UP_S:g} s: try again later (a job "
                                        "erased, or another deployment's, is never found)", 3) from None  # fmt: skip
                raise
            asked = exc.retry_after if isinstance(exc, ApiError) else None
            if not not_found:
                (err or sys.stderr).write(f"{exc}; asking again in {max(args.interval, asked or 0):g} s\n")
            elif not told:
                (err or sys.stderr).write(f"{args.job}: not known to the API yet; waiting for up to {GIVE_UP_S:g} s\n")
            told, jobs = told or not_found, []
        else:
            failing_since = None
        for job in jobs:
            if seen.get(job["id"]) != job["state"]:
                seen[job["id"]] = job["state"]
                reason = f" {job['reason']}" if job.get("reason") else (" (cached)" if job.get("cached") else "")
                out.write(f"{job['id']} {job['state']}{reason}\n")
                out.flush()
        states = list(seen.values())
        if states and all(state in TERMINAL for state in states):
            return 0 if all(state == "SUCCEEDED" for state in states) else 1
        if stop.wait(max(args.interval, asked or 0)):
            return 0


def _waited_out(exc: ApiError | OSError, job: str | None, seen: dict[str, str]) -> bool:
    """What `watch` waits out of a failed poll of `job` (None: a site's): True for the API's not_found of a job not
    known yet, False for a busy or silent API. Any other failure is raised, for `run` to report."""
    # The API's not_found for a job it never showed is "not yet" (docs/api.md): ingestion has not recorded it.
    # For one it showed before, it is final: the job was erased since.
    not_found = isinstance(exc, ApiError) and exc.not_found and job is not None
    if not_found and seen:
        raise CommandFailed(f"{exc} (it was there before: erased since)", 1) from None
    if isinstance(exc, ApiError) and not (exc.transient or not_found):
        raise exc
    return not_found


def _poll(client: ApiClient, job: str) -> tuple[list[dict[str, Any]], float | None]:
    """The watched job now, and the seconds the API asked to wait before asking again."""
    _, doc, asked = client.exchange("GET", f"/jobs/{job}")
    return [doc], asked


def open_job(client: ApiClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    target: Path = args.out or Path(f"{args.job}.overlay.jpg")
    if not target.parent.is_dir():  # before any download: nowhere to put it is the caller's to fix
        raise CommandFailed(f"--out {target}: no folder {target.parent}", 2)
    doc = client.get(f"/jobs/{args.job}")
    result = doc.get("result") or {}
    link = (result.get("links") or {}).get("overlay")
    if not link:
        expired = result.get("expired")
        why = expired.get("detail") if isinstance(expired, dict) else "only SUCCEEDED jobs have one"
        err.write(f"{args.job} is {doc['state']}: no overlay ({why})\n")
        return 1
    shown = urllib.parse.urlsplit(link)._replace(query="").geturl()  # without the SAS, which stays out of logs
    overlay = _download(link, shown)
    try:
        target.write_bytes(overlay)
    except OSError as exc:
        raise CommandFailed(f"--out {target}: cannot write it: {exc.strerror or exc}", 2) from None
    out.writelines(f"{line}\n" for line in [f"overlay: {target}", *read_out(doc["result"]["summary"])])
    err.write(f"downloaded {shown}\n")
    return 0


def _download(link: str, shown: str) -> bytes:
    """The overlay behind the API's read link (re-signed on every GET of the job), whole, or CommandFailed."""
    try:
        with urllib.request.urlopen(link, timeout=60) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        exc.close()
        why = {404: "the overlay is no longer in Storage"}.get(exc.code, "Storage did not serve it")
        if exc.code in (401, 403):
            why = "Storage refused the read link (expired, or its key was rotated): run this again for a fresh one"
        raise CommandFailed(f"{shown}: HTTP {exc.code}: {why}", 3 if exc.code in BUSY else 1) from None
    except http.client.HTTPException as exc:  # IncompleteRead: the connection dropped mid-download
        raise CommandFailed(f"{shown}: the download was cut short ({type(exc).__name__}): try again", 3) from None
    except OSError as exc:
        raise CommandFailed(f"{shown}: Storage did not answer: {exc}", 3) from None
