"""`sitelens jobs list|get|watch|open`: the status API (docs/api.md) from a terminal.

The endpoint is found as `sitelens upload` finds it: `SITELENS_API`/`SITELENS_API_KEY` (preferred: a command
line is visible to other users), `--api`/`--key`, or the local stack's `stack.json`.
Exit codes: 0 done (and, for `watch`, every job SUCCEEDED), 1 a job FAILED or was REJECTED, or the API
refused (404 for an unknown job), 2 usage or no endpoint, 3 the API did not answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from sitelens.api_client import ApiClient, ApiError
from sitelens.upload import UploadFailed
from sitelens.upload_command import REPO, resolve_endpoint

TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED")
COLUMNS = (("id", 28), ("state", 9), ("device", 12), ("photo_id", 28), ("received", 20), ("reason", 20))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("jobs", help="list, show, watch and open jobs through the status API")
    p.add_argument("--api", help="API base URL ending in /api (default: $SITELENS_API, else the local stack)")
    p.add_argument("--key", help="function key (default: $SITELENS_API_KEY, else the local stack's host key)")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where the local stack's stack.json is")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="a site's jobs, oldest first")
    listing.add_argument("--site", required=True)
    listing.add_argument("--state", choices=("RECEIVED", "QUEUED", "RUNNING", *TERMINAL), help="only this state")
    listing.add_argument("--json", action="store_true", help="the jobs as one JSON array")
    get = sub.add_parser("get", help="one job's status document")
    get.add_argument("job")
    get.add_argument("--json", action="store_true", help="the document as the API sends it")
    watch = sub.add_parser("watch", help="print each change until the job (or every job of a site) is terminal")
    target = watch.add_mutually_exclusive_group(required=True)
    target.add_argument("job", nargs="?")
    target.add_argument("--site")
    watch.add_argument("--interval", type=float, default=5.0, help="seconds between polls (default 5, the API's)")
    opened = sub.add_parser("open", help="download a finished job's overlay and print its text")
    opened.add_argument("job")
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
               "watch": lambda: watch(client, args, out, stop or threading.Event()),
               "open": lambda: open_job(client, args, out, err)}  # fmt: skip
    try:
        return actions[args.action]()
    except ApiError as exc:
        err.write(f"{exc}\n")
        return 1
    except OSError as exc:
        err.write(f"unreachable: {exc}\n")
        return 3


def list_jobs(client: ApiClient, args: argparse.Namespace, out: TextIO) -> int:
    jobs = client.site_jobs(args.site)
    if args.state:
        jobs = [job for job in jobs if job.get("state") == args.state]
    if args.json:
        out.write(json.dumps(jobs, indent=2) + "\n")
    else:
        out.write(table(jobs))
    return 0


def table(jobs: Sequence[dict[str, Any]]) -> str:
    lines = ["  ".join(name.upper().ljust(width) for name, width in COLUMNS).rstrip()]
    for job in jobs:
        cells = {**job, "received": (job.get("timings") or {}).get("received_at") or "",
                 "reason": job.get("reason") or ("cached" if job.get("cached") else "")}  # fmt: skip
        lines.append("  ".join(str(cells.get(name) or "").ljust(width) for name, width in COLUMNS).rstrip())
    lines.append(f"{len(jobs)} job(s)")
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


def watch(client: ApiClient, args: argparse.Namespace, out: TextIO, stop: threading.Event) -> int:
    """Poll at the API's pace and print a line for each job whose state changed, until all are terminal."""
    seen: dict[str, str] = {}
    while True:
        jobs = client.site_jobs(args.site) if args.site else [_job_or_none(client, args.job)]
        for job in filter(None, jobs):
            if seen.get(job["id"]) != job["state"]:
                seen[job["id"]] = job["state"]
                reason = f" {job['reason']}" if job.get("reason") else (" (cached)" if job.get("cached") else "")
                out.write(f"{job['id']} {job['state']}{reason}\n")
                out.flush()
        states = list(seen.values())
        if states and all(state in TERMINAL for state in states):
            return 0 if all(state == "SUCCEEDED" for state in states) else 1
        if stop.wait(args.interval):
            return 0


def _job_or_none(client: ApiClient, job_id: str) -> dict[str, Any] | None:
    try:
        return client.get(f"/jobs/{job_id}")
    except ApiError as exc:
        if exc.status == 404:  # not yet: ingestion has not seen the commit (docs/api.md)
            return None
        raise


def open_job(client: ApiClient, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    doc = client.get(f"/jobs/{args.job}")
    link = ((doc.get("result") or {}).get("links") or {}).get("overlay")
    if not link:
        err.write(f"{args.job} is {doc['state']}: no overlay (only SUCCEEDED jobs have one)\n")
        return 1
    target: Path = args.out or Path(f"{args.job}.overlay.jpg")
    with urllib.request.urlopen(link, timeout=60) as response:  # the API's own read SAS, re-signed per call
        target.write_bytes(response.read())
    out.write(f"overlay: {target}\n")
    for line in read_out(doc["result"]["summary"]):
        out.write(f"{line}\n")
    shown = urllib.parse.urlsplit(link)._replace(query="").geturl()
    err.write(f"downloaded {shown}\n")
    return 0
