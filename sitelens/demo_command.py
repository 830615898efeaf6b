"""`sitelens demo` (`make demo`): the product's main job, end to end, on a local stack of its own.

1. start the stack: Azurite, the local Batch service with the GPU pool at 0 nodes (autoscaled by the real
   formula; its nodes start node servers through the real start task), the Functions host running
   `function_app.py`;
2. subscribe a webhook receiver on loopback;
3. generate photo-like field pictures with signage and nameplate text, a copy of one, and the files the
   pipeline must reject;
4. upload them as a field device would (`sitelens upload`, a subprocess);
5. follow the jobs live (jobs by state, pool nodes) until every one is terminal;
6. print photo, state, text found or reason, latency; then the webhooks, their signatures checked;
7. print one succeeded photo's trace as a waterfall (`sitelens trace`), from upload to webhook;
8. with `--models` (`make demo-models`), bring a second kind of model: PP-OCR's text-direction classifier made
   a classify model, published and routed to one site, and two text lines read by it (`demo_models.py`).

The stack runs on free ports in a throw-away folder, so it runs beside a `sitelens dev` already up.
`--keep` leaves it running afterwards (Ctrl-C stops it); `--report FILE` writes the outcome as JSON.
Ctrl-C, SIGTERM and a hangup (a closed terminal) stop it; a child of the stack that exits ends it at once.
However it ends, every process of the stack is stopped; the folder is removed after a demo that worked, and
after one that did not only its logs and telemetry are kept, with its nodes' and tasks' logs (its path is printed).

A demo killed outright (SIGKILL: a CI timeout, the OOM killer) cannot stop its stack. Each demo holds a lock on
`<folder>/stack.lock` for its whole life, as `sitelens dev` does on its state dir: the next demo stops what a
folder whose lock is free left running, as `sitelens dev` does a killed dev's, and keeps only that folder's logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from emulators.azurite import free_ports
from emulators.child_process import ChildFailed
from emulators.signals import STOP_SIGNALS
from sitelens import demo_models, field_photos
from sitelens.api_client import ApiClient
from sitelens.demo_receiver import DemoReceiver
from sitelens.demo_view import TERMINAL, Item, Live, judge, print_table
from sitelens.dev_command import LOCK_FILE, claim, stop_leftovers
from sitelens.stack import Stack
from sitelens.trace import waterfall
from sitelens.trace_reader import job_spans

REPO = Path(__file__).resolve().parents[1]
FOLDER_PREFIX = "sitelens-demo-"  # under the system's temporary folder
KEPT = ("logs", "telemetry")  # what the folder of a demo that did not work keeps whole: the rest is tens of MB
NODE_LOGS = ("*.log", "std*.txt")  # and of batch/nodes: the node server's log, the start task's and tasks' output
SITE, DEVICE = "north-yard", "cam-1"
DEADLINE_S = 900.0  # for every job to be terminal: 24 photos on a 2-core laptop's CPU take a few minutes
WEBHOOK_DEADLINE_S = 60.0
TRACE_WAIT_S = 10.0  # for the photo's last spans (its webhook attempt) to reach the files


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("demo", help="start a local stack and run the main job end to end")
    p.add_argument("--photos", type=int, default=24, help="how many generated photos to upload (default 24)")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards (Ctrl-C stops it)")
    p.add_argument("--report", type=Path, help="also write the outcome as JSON to this file")
    p.add_argument("--models", action="store_true", help="then bring a second kind of model (docs/models.md)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.photos <= 500:
        print("demo: --photos must be between 1 and 500")
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):  # `kill` and a closed terminal stop it as cleanly as Ctrl-C
        signal.signal(sig, _interrupt)
    try:
        stop_killed_demos()
    except KeyboardInterrupt:
        print("\ndemo: interrupted")
        return 130
    state = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    lock = _lock(state)  # held until this process ends, however it ends
    blob_port, queue_port, table_port, functions_port, batch_port = free_ports(5)
    stack = Stack(
        repo=REPO,
        state_dir=state,
        azurite_ports=(blob_port, queue_port, table_port),
        functions_port=functions_port,
        batch_port=batch_port,
    )
    code = 1  # until the demo says otherwise: an unexpected error keeps the folder too
    try:
        print("1. Starting the local stack: Azurite, the Batch service with the GPU pool, the Functions host ...")
        try:
            stack.start()
        except ChildFailed as exc:
            print(f"demo: the local stack did not start: {exc}\n   logs: {state / 'logs'}")
            return code
        batch = stack.batch.endpoint if stack.batch else "-"
        print(f"   up: API {stack.functions_url}/api, Batch {batch} (pool sitelens-gpu at 0 nodes, autoscaled)")
        code = _steps(stack, state, args)
        if args.keep:
            _linger(stack, state)
        return code
    except KeyboardInterrupt:
        code = 130
        print("\ndemo: interrupted; stopping the stack")
        return code
    finally:
        clean_up(stack, state, keep_folder=code != 0)
        lock.close()


def _lock(state: Path) -> IO[str]:
    """Lock `<state>/stack.lock` for this demo, on a file of another name renamed to it once held: a demo
    looking for dead demos' folders never finds the lock of one that is starting free."""
    staging = state / f".{LOCK_FILE}"
    lock = staging.open("a+")
    claim(lock)  # a file nobody else knows yet: always ours
    staging.rename(state / LOCK_FILE)
    return lock


def stop_killed_demos() -> None:
    """Stop what demos killed outright left running, in this user's demo folders whose lock is free, and keep only
    their logs (`_keep_logs`). A folder without a lock is a demo's that is creating it, or one already done."""
    for state in sorted(Path(tempfile.gettempdir()).glob(FOLDER_PREFIX + "*")):
        try:
            if state.lstat().st_uid != os.getuid():  # a link another user made is not ours either
                continue
            lock = (state / LOCK_FILE).open("r+")
        except OSError:
            continue
        with lock:
            if claim(lock) is not None or not (state / LOCK_FILE).exists():  # running, or another demo reaped it
                continue
            stopped, unknown = stop_leftovers(state)
            for child, pid in stopped:
                print(f"demo: stopped the {child} (pid {pid}) that a killed demo left running in {state}")
            if unknown:  # no /proc to tell whose they are: the folder stays as it is, for the user to judge
                named = ", ".join(f"{child} pid {pid}" for child, pid in unknown)
                print(f"demo: {state}, a killed demo's, names processes that may still run: {named}")
            else:
                print(f"demo: a killed demo left {state}: {_keep_logs(state)}")


def _keep_logs(state: Path) -> str:
    """Remove all of `state` but the folders in `KEPT` and the `NODE_LOGS` in batch/nodes; says what it kept."""
    nodes = state / "batch" / "nodes"
    for folder, dirs, files in os.walk(state, topdown=False):  # a folder's content before it: emptied first
        for path in (Path(folder) / name for name in dirs + files):
            log = path.is_relative_to(nodes) and any(path.match(form) for form in NODE_LOGS)
            if log or path.relative_to(state).parts[0] in KEPT:
                continue
            with contextlib.suppress(OSError):  # a folder that still holds a log stays
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    kept = [str(state / name) for name in KEPT] + ([f"the node and task logs in {nodes}"] if nodes.is_dir() else [])
    return f"kept {', '.join(kept[:-1])} and {kept[-1]}, removed the rest; remove {state} when done"


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def clean_up(stack: Stack, state: Path, *, keep_folder: bool) -> None:
    """Stop every process of the stack, then remove its folder, or keep its logs (`_keep_logs`) and say where.
    Another Ctrl-C, SIGTERM or hangup meanwhile is ignored: raised in the middle of a stop, it would leave
    the rest of the stack running and the folder behind."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
    try:
        stack.stop()
        if keep_folder:
            print(f"demo: {_keep_logs(state)}")
        else:
            shutil.rmtree(state, ignore_errors=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _steps(stack: Stack, state: Path, args: argparse.Namespace) -> int:
    api = ApiClient.of_stack(state)  # this stack's, whatever SITELENS_API says
    with DemoReceiver() as receiver:
        sub = api.post("/subscriptions", {"url": receiver.url, "site": SITE})
        receiver.secret = sub["secret"]
        print(f"2. Webhook subscription {sub['id']} -> {receiver.url} (site {SITE})")
        items = _generate(state / "photos", args.photos)
        bad = sum(i.kind == "bad" for i in items)
        print(f"3. Generated {len(items)} files in {state / 'photos'}: {args.photos} field photos, 1 copy of the "
              f"first, {bad} files the pipeline must reject")  # fmt: skip
        print(f"4. sitelens upload --site {SITE} --device {DEVICE} ({len(items)} files)")
        _upload(items, state)
        print("5. Following the jobs; the pool scales up from 0 nodes as tasks wait (the autoscale formula)")
        live = Live(stack, items, api, SITE)
        dead = live.follow(DEADLINE_S)
        print_table(items)
        if dead is not None:  # nothing more will finish: no waiting for webhooks
            problem = f"the {dead} exited; its log: {stack.log_file(dead)}"
            if args.report:
                _write_report(args.report, items, [], live, [problem])
            print(f"demo: FAILED ({problem})")
            return 1
        wanted = {i.job_id for i in items if i.job and i.job["state"] in TERMINAL}
        receiver.wait_for(wanted, WEBHOOK_DEADLINE_S)
        deliveries = list(receiver.deliveries)
    verified = [d for d in deliveries if d.verified]
    print(f"6. Webhooks received: {len(deliveries)}, {len(verified)} with a valid signature "
          f"(Standard Webhooks, HMAC-SHA256), for {len({d.job_id for d in verified} & wanted)} of "
          f"{len(wanted)} jobs")  # fmt: skip
    for d in {d.event_type: d for d in reversed(deliveries)}.values():  # the first of each type
        print(f"   {d.webhook_id}  {d.event_type:<14} {d.job_id}  {'signature ok' if d.verified else 'BAD SIGNATURE'}")
    _print_trace(stack, items)
    problems = judge(items, wanted, {d.job_id for d in verified}, len(deliveries) - len(verified))
    if args.models:
        problems += demo_models.run(stack, state)
    for problem in problems:
        print(f"   ! {problem}")
    if args.report:
        _write_report(args.report, items, deliveries, live, problems)
    print("demo: OK" if not problems else f"demo: FAILED ({len(problems)} problem(s) above)")
    return 0 if not problems else 1


def _print_trace(stack: Stack, items: list[Item]) -> None:
    """One photo's trace, read by a node (not from the cache), as `sitelens trace` prints it, once its webhook
    span is exported. Which of two photos with the same bytes is read and which is cached is whichever
    claims the bytes first."""
    read = (i for i in items if i.kind == "photo" and i.state == "SUCCEEDED" and not (i.job or {}).get("cached"))
    job_id = next((i.job_id for i in read), None)
    if job_id is None:
        return
    deadline, spans = time.monotonic() + TRACE_WAIT_S, []
    while time.monotonic() < deadline:
        spans = job_spans(stack.telemetry_dir, job_id)
        if any(s["name"] == "webhook.deliver" for s in spans):
            break
        time.sleep(0.5)  # the processes export their spans every fraction of a second
    print(f"7. The trace of {job_id} (sitelens trace {job_id}):")
    print(waterfall(spans) if spans else "   no spans exported")


def _generate(folder: Path, count: int) -> list[Item]:
    """The field photos (with the text drawn on them), a copy of the first, and the files to reject."""
    folder.mkdir(parents=True)
    items = []
    photos = field_photos.photo_set(count, seed=7, size="1080p")
    for photo in photos:
        path = folder / f"{photo.name}.jpg"
        path.write_bytes(photo.jpeg)
        items.append(Item(path, "photo", expected_text=tuple(line.text for line in photo.lines)))
    copy = folder / f"{photos[0].name}-copy.jpg"  # same bytes, another photo id: the content dedupe's case
    copy.write_bytes(photos[0].jpeg)
    items.append(Item(copy, "copy", expected_text=items[0].expected_text, copy_of=items[0]))
    for name, (data, reason) in field_photos.bad_files().items():
        (folder / name).write_bytes(data)
        items.append(Item(folder / name, "bad", expected_reason=reason))
    return items


def _upload(items: list[Item], state: Path) -> None:
    """`sitelens upload --json` against this stack: its progress bar on our stderr, its report on stdout."""
    cmd = [sys.executable, "-m", "sitelens", "upload", *(str(i.path) for i in items), "--site", SITE,
           "--device", DEVICE, "--json", "--state-dir", str(state)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("SITELENS_API", "SITELENS_API_KEY")}
    done = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, text=True, timeout=600, env=env, cwd=REPO)
    try:
        outcomes = {Path(o["path"]).name: o for o in json.loads(done.stdout)}
    except (ValueError, TypeError, KeyError):
        outcomes = {}
    for item in items:
        outcome = outcomes.get(item.path.name, {})
        item.job_id = outcome.get("job_id")
        item.upload_error = None if item.job_id else str(outcome.get("reason") or f"exit {done.returncode}")


def _write_report(path: Path, items: list[Item], deliveries: list[Any], live: Live, problems: list[str]) -> None:
    doc = {
        "ok": not problems,
        "problems": problems,
        "items": [i.to_json() for i in items],
        "webhooks": {"received": len(deliveries), "verified": sum(d.verified for d in deliveries)},
        "pool": {"max_nodes": live.max_nodes},
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _linger(stack: Stack, state: Path) -> None:
    print(f"\nThe stack stays up: API {stack.functions_url}/api (host key in {stack.stack_file}).")
    print(f"  sitelens upload PHOTO.jpg --site {SITE} --device {DEVICE} --state-dir {state}")
    print(f"  sitelens dashboard --state-dir {state} --site {SITE}   (then open http://127.0.0.1:8766/)")
    print("Ctrl-C stops it.")
    try:
        while (dead := stack.dead_child()) is None:
            time.sleep(1.0)  # a liveness check's period, not synchronisation
        print(f"demo: the {dead} exited; stopping the rest")
    except KeyboardInterrupt:
        print()
