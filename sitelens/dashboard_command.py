"""`sitelens dashboard [--api URL] [--key K] [--port P] [--site S …]`: the operator's page, on loopback.

Like a port-forwarded dashboard: this process holds the API key and serves a page on 127.0.0.1 that calls
the API through it (sitelens/dashboard.py), so the key never reaches the browser. The API is the local
stack's unless `--api`/`--key` or `SITELENS_API`/`SITELENS_API_KEY` name a deployment. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from sitelens.dashboard import Dashboard, Upstream
from sitelens.upload import UploadFailed
from sitelens.upload_command import resolve_endpoint

REPO = Path(__file__).resolve().parents[1]
PORT = 8766  # not the local Batch service's 8765: the page runs beside `sitelens dev`


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("dashboard", help="a local web page of sites, photos, the pool and webhooks")
    p.add_argument("--api", help="API base URL ending in /api (default: $SITELENS_API, else the local stack)")
    p.add_argument("--key", help="function key (default: $SITELENS_API_KEY, else the local stack's host key)")
    p.add_argument("--port", type=int, default=PORT, help=f"port on 127.0.0.1 (default {PORT}; 0 picks a free one)")
    p.add_argument("--site", action="append", default=[], help="a site to show (repeatable; more from the page)")
    p.add_argument("--state-dir", type=Path, default=REPO / ".local", help="where the local stack's stack.json is")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    try:
        base, key = resolve_endpoint(args.api, args.key, os.environ, args.state_dir)
    except UploadFailed as exc:
        print(f"sitelens dashboard: {exc}", file=sys.stderr)
        return 2
    try:
        dashboard = Dashboard(Upstream(base, key), sites=list(args.site), port=args.port).start()
    except OSError as exc:  # the port is taken
        print(f"sitelens dashboard: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 2
    print(f"sitelens dashboard: {dashboard.url}  (API {base}; Ctrl-C stops it)", flush=True)
    try:
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        print()
    finally:
        dashboard.stop()
    return 0
