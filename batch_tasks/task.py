"""The Batch task: `python -m batch_tasks.task JOB_ID INPUT` — a thin client of the node's inference server.

Standard library only: no ONNX Runtime, no OpenCV, no Azure SDK, no CUDA context, so a task costs tens of
milliseconds of start-up instead of seconds. It hands the server its job (the input file Batch downloaded
as a resource file, the model) and the server, which holds the model warm and the storage
clients open with the node's identity, reads the photo, writes `results/{job_id}/result.json` and
`overlay.jpg` (the same paths on every attempt, so a re-run overwrites) and posts the completion message
to the `completions` queue. The task's exit code says how it went:

| code | meaning | completion message | Batch retries |
|---|---|---|---|
| 0 | result written, completion posted | succeeded | - |
| 2 | usage or configuration (arguments, environment, input missing, storage refused) | none | yes (a) |
| 2 | the model is not in the registry, or of a kind this package does not serve (b) | failed, at once | yes, harmless |
| 3 | bad input: the photo cannot be read (`bad_input`, `too_large`) | failed, at once | yes, harmless |
| 4 | transient storage error | none | yes (a) |
| 5 | the node server is unavailable (not running, not answering, crashed mid-request) | none | yes (a) |
| 6 | inference failed inside the server | none, but for `model_output_invalid`: failed, at once | yes (a) |

(a) and when the retries are spent, the reconciler fails the job `task_failed` with Batch's failure information.
(b) `unknown_model`, `model_not_served`: final for the job, as `batch_tasks.errors.FINAL_ERRORS` says.
"harmless": the job already ended with the node's code as its reason; a retry meets the same failure, posts it
again, and the app ignores a message for an ended job. A failed post (storage) exits with storage's code instead.

On exit 0 the task deletes its input (`input.jpg`, about 2 MB for a 12 MP photo): Batch keeps a task's folder
on the node's temporary disk for the task's retention time (a day) after it ends, and at a node's pace the
inputs alone would fill that disk within a day. Only exit 0 deletes it, since a non-zero exit may be retried
and the retry reads the same file. Only a task Batch runs deletes it (`AZ_BATCH_TASK_WORKING_DIR` set, as Batch
and the local Batch service always set it), and only a file inside that working directory, symlinks resolved: a
task run by hand or by a benchmark, or a photo elsewhere, leaves the photo as it is. The task's stdout and
stderr stay for the day, as Batch keeps them.

The codes come from one table, `batch_tasks.errors.CODES` (a server's error code → exit code); an error
code this client does not know (a newer server) exits 6: a client older than `model_not_served` exits 6 for it.

`--in-process` runs the same job without the server (the model loaded in this process, for this one photo):
the naive task that the benchmarks compare the server against, and a fallback for debugging a node.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batch_tasks import errors, protocol
from batch_tasks.errors import OK, UNAVAILABLE, USAGE

HEALTH_TIMEOUT_S = 5.0  # the server answers health from its event loop, even while models run
READY_WAIT_S = 30.0  # tasks start after the start task saw `ready`; a restarting server gets this long
BACKLOG_RETRY_S = 0.1  # a server whose backlog is full accepts again as its event loop takes connections
# The submitter sets it below the task's wall clock (SITELENS_TASK_ENV may set it instead); 540 s of 600 by default.
TIMEOUT_VARIABLE = "SITELENS_TASK_TIMEOUT_S"
DEFAULT_TIMEOUT_S = "540"
WORKING_DIR_VARIABLE = "AZ_BATCH_TASK_WORKING_DIR"  # where Batch downloads the input and starts the task


class Unavailable(Exception):
    pass


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m batch_tasks.task", description=__doc__.split("\n")[0])
    p.add_argument("job_id", nargs="?", default=os.environ.get("SITELENS_JOB_ID"))
    p.add_argument("input", nargs="?", default="input.jpg", help="the photo on this node (default input.jpg)")
    p.add_argument("--model", default=os.environ.get("SITELENS_MODEL", "ocr/ppocrv4"))
    p.add_argument("--timeout", type=_positive_seconds,
                   help=f"seconds to wait for the server, readiness included (below the wall clock; default "
                        f"${TIMEOUT_VARIABLE}, else {DEFAULT_TIMEOUT_S})")  # fmt: skip
    p.add_argument("--in-process", action="store_true", help="load the model here instead of using the server")
    args = p.parse_args(argv)
    if args.timeout is None:
        # Read after parsing, not as the option's default: a malformed value is named by its variable and
        # refused as every usage error is (argparse exits 2, our USAGE), never a traceback and exit 1.
        try:
            args.timeout = _positive_seconds(os.environ.get(TIMEOUT_VARIABLE, DEFAULT_TIMEOUT_S))
        except argparse.ArgumentTypeError as exc:
            p.error(f"{TIMEOUT_VARIABLE} {exc}")
    return args


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text[:40]!r}")
    return value


def _request(args: argparse.Namespace) -> dict[str, Any]:
    # No `attempt`: Batch tells a task nothing of its retries (no documented variable carries the retry
    # count), so the task cannot know which run it is, and the app takes the number from Batch itself.
    return {
        "op": "job",
        "job_id": args.job_id,
        "task_id": os.environ.get("AZ_BATCH_TASK_ID", args.job_id),
        "model": args.model,
        "path": str(Path(args.input).resolve()),
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "traceparent": os.environ.get("TRACEPARENT") or None,
        # The job's secret from the app (the task's environment): the server echoes it in the completion message,
        # the one proof the app has that the message comes from this job's task. Never printed.
        "task_token": os.environ.get("SITELENS_TASK_TOKEN") or None,
    }


def _wait_ready(socket: Path, wait_s: float = READY_WAIT_S) -> None:
    """Until the server says ready. A server that is down (no socket, connection refused) is waited for too:
    its supervisor restarts it within seconds, and a task that failed at once would spend a Batch retry on
    every restart (a burst of tasks can spend them all). So is one whose backlog of connections is full
    (`BlockingIOError`, EAGAIN: a burst of tasks connecting while its event loop is busy)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            health = protocol.call(socket, {"op": "health"}, HEALTH_TIMEOUT_S)
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError) as exc:
            if time.monotonic() > deadline:
                raise Unavailable(f"the node server at {socket} is not answering: {exc}") from exc
            health = {}
        except (OSError, protocol.ProtocolError) as exc:
            raise Unavailable(f"the node server at {socket} is not answering: {exc}") from exc
        if health.get("ready"):
            return
        if time.monotonic() > deadline:
            raise Unavailable(f"the node server at {socket} is not ready after {wait_s:.0f} s")
        time.sleep(0.5)  # poll period while a restarted server comes up and warms its models


def _via_server(request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The server's reply, all of it (waiting for a restarted server included) within `timeout` seconds: the
    submitter sets that below the task's wall clock, so a task that gives up can still report."""
    deadline = time.monotonic() + timeout
    socket = protocol.socket_path()
    _wait_ready(socket, min(READY_WAIT_S, timeout))
    left = deadline - time.monotonic()
    if left <= 0:
        raise Unavailable(f"the node server at {socket} became ready only after the task's {timeout:.0f} s")
    while True:
        try:
            return protocol.call(socket, request, left)
        except BlockingIOError as exc:  # its backlog is full: refused before the request was sent, so sent again
            left = deadline - time.monotonic() - BACKLOG_RETRY_S
            if left <= 0:
                raise Unavailable(f"the node server at {socket} took no connection: {exc}") from exc
            time.sleep(BACKLOG_RETRY_S)
        except (OSError, protocol.ProtocolError) as exc:
            raise Unavailable(f"the node server at {socket} failed during the request: {exc}") from exc


def _discard_input(job_id: str, input_path: str) -> None:
    """Delete the input of a task that exits 0: nothing reads it again (no retry follows a success), and
    Batch would keep it on the node's temporary disk for a day. Outside Batch (no working directory named: run by
    hand, or by a benchmark that reuses its photos) nothing is deleted; nor is a file outside the task's working
    directory (symlinks resolved), which is not the task's, or one already gone."""
    named = os.environ.get(WORKING_DIR_VARIABLE)
    if not named:
        return
    try:
        working_dir = Path(named).resolve()
        target = Path(input_path).resolve()  # RuntimeError for a symlink loop (Python 3.11)
        if target != working_dir and target.is_relative_to(working_dir):
            target.unlink(missing_ok=True)
    except (OSError, RuntimeError) as exc:  # the job is done: a file left behind must not make it a retry
        print(f"task {job_id}: input {input_path} not deleted: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if not args.job_id:
        print("task: a job id is required (argument or SITELENS_JOB_ID)", file=sys.stderr)
        return USAGE
    request = _request(args)
    started = time.perf_counter()
    try:
        if args.in_process:
            from batch_tasks.node.standalone import run_job  # noqa: PLC0415 (the naive path: the model stack)

            reply = run_job(request)
        else:
            reply = _via_server(request, args.timeout)
    except Unavailable as exc:
        print(f"task {args.job_id}: node server unavailable: {exc}", file=sys.stderr)
        return UNAVAILABLE
    except protocol.ProtocolError as exc:  # no shared dir: not on a Batch node
        print(f"task {args.job_id}: {exc}", file=sys.stderr)
        return USAGE
    elapsed = (time.perf_counter() - started) * 1000
    if reply.get("ok"):
        print(json.dumps({"job_id": args.job_id, "outcome": "succeeded", "result_path": reply.get("result_path"),
                          **{k: reply[k] for k in ("lines", "found") if k in reply},  # OCR lines, or what else found
                          "provider": reply.get("provider"),
                          "task_ms": round(elapsed, 1)}))  # fmt: skip
        _discard_input(args.job_id, args.input)
        return OK
    error = reply.get("error") or {}
    code = str(error.get("code", "unknown"))
    print(f"task {args.job_id}: {code}: {error.get('message', '')}", file=sys.stderr)
    return errors.exit_code(code)


if __name__ == "__main__":
    sys.exit(main())
