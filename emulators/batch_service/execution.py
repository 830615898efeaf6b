"""One attempt of a task (or a start task) on a virtual node: files in, the process and its time limit, files out.

The process gets the environment a Batch node gives it: a small set of the host's variables (PATH
starts with this Python's folder, so `python` is the interpreter the service runs on, the way a start
task would have installed one), the job's and task's environment settings, then Batch's own `AZ_BATCH_*`
variables, which settings cannot override. Only variables Azure documents for a task are set: none tells
a task which retry it is. stdout and stderr go to `stdout.txt` and `stderr.txt` in the task folder, next to
`wd/`.

`maxWallClockTime` counts from the attempt's start, resource file downloads included, as Azure measures it
from the task's start: a download that outlasts it ends the attempt with `MaxWallClockTimeExpiry` and the
command never runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.batch_service import files, processes

Doc = dict[str, Any]
_PASSED_THROUGH = ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")


@dataclass(frozen=True)
class Failure:
    kind: str  # exitcode | preprocessing | upload | wallclock (only `exitcode` is retried)
    category: str  # usererror | servererror
    code: str
    message: str

    def info(self) -> Doc:
        return {"category": self.category, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None  # None when the process never ran
    failure: Failure | None = None

    @property
    def retryable(self) -> bool:
        return self.failure is not None and self.failure.kind == "exitcode"


EXIT_CODE_FAILURE = Failure(
    "exitcode", "usererror", "FailureExitCode", "The task process exited with an unexpected exit code"
)
WALL_CLOCK_FAILURE = Failure(
    "wallclock", "usererror", "MaxWallClockTimeExpiry", "The task ran longer than its maxWallClockTime"
)


def task_dir(node_root: Path, job_id: str, task_id: str) -> Path:
    return node_root / "workitems" / job_id / "job-1" / task_id


def node_environment(account: str, account_url: str, pool: Doc, node: Doc, node_root: Path) -> dict[str, str]:
    """The host's variables that a process needs here, then what Batch sets for every process of a node."""
    env = {k: v for k, v in os.environ.items() if k in _PASSED_THROUGH}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
    env.update(
        AZ_BATCH_ACCOUNT_NAME=account,
        AZ_BATCH_ACCOUNT_URL=account_url,
        AZ_BATCH_POOL_ID=pool["id"],
        AZ_BATCH_NODE_ID=node["id"],
        AZ_BATCH_NODE_IS_DEDICATED="true" if node.get("isDedicated", True) else "false",
        AZ_BATCH_NODE_ROOT_DIR=str(node_root),
        AZ_BATCH_NODE_SHARED_DIR=str(node_root / "shared"),
        AZ_BATCH_NODE_STARTUP_DIR=str(node_root / "startup"),
        AZ_BATCH_NODE_STARTUP_WORKING_DIR=str(node_root / "startup" / "wd"),
        AZ_BATCH_NODE_MOUNTS_DIR=str(node_root / "fsmounts"),
        AZ_BATCH_TASK_USER="_azbatch",
    )
    return env


def with_settings(base: dict[str, str], settings: list[Doc], batch: dict[str, str]) -> dict[str, str]:
    """User settings over the host's variables, and Batch's variables over both."""
    env = dict(base)
    env.update({s["name"]: str(s.get("value") or "") for s in settings if s.get("name")})
    env.update({k: v for k, v in base.items() if k.startswith("AZ_BATCH_")})
    env.update(batch)
    return env


def task_environment(base: dict[str, str], job: Doc, task: Doc, folder: Path) -> dict[str, str]:
    identity = (
        "PoolNonAdmin"
        if (task.get("userIdentity") or {}).get("autoUser", {}).get("scope") == "pool"
        else "TaskNonAdmin"
    )
    settings = [*(job.get("commonEnvironmentSettings") or []), *(task.get("environmentSettings") or [])]
    return with_settings(base, settings, {
        "AZ_BATCH_JOB_ID": job["id"],
        "AZ_BATCH_TASK_ID": task["id"],
        "AZ_BATCH_TASK_DIR": str(folder),
        "AZ_BATCH_TASK_WORKING_DIR": str(folder / "wd"),
        "AZ_BATCH_TASK_USER_IDENTITY": identity,
    })  # fmt: skip


def _left(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float | None:
    """Seconds left before `deadline` (loop time), never negative; None when there is no limit."""
    return None if deadline is None else max(0.0, deadline - loop.time())


def exit_code_of(returncode: int) -> int:
    """A process killed by signal N reports 128 + N, as a shell does (Python says -N)."""
    return 128 - returncode if returncode < 0 else returncode


async def attempt(
    spec: Doc,
    folder: Path,
    env: dict[str, str],
    *,
    limit_s: float | None,
    started: Callable[[asyncio.subprocess.Process], None],
    current: Callable[[], bool],
) -> Outcome:
    """Run one attempt of `spec` (a task or start task document) in `folder`.

    `started` is told the process; `current()` says whether the attempt still speaks for its task (a
    task terminated or requeued meanwhile does not start, and uploads nothing).
    """
    loop = asyncio.get_running_loop()
    deadline = None if limit_s is None else loop.time() + limit_s
    wd = folder / "wd"
    wd.mkdir(parents=True, exist_ok=True)
    try:
        # A download outliving the deadline is left to finish in its thread (it cannot be interrupted); the
        # attempt ends now, and nothing reads what the download writes afterwards.
        await asyncio.wait_for(
            asyncio.to_thread(files.download_resources, spec.get("resourceFiles") or [], wd), _left(loop, deadline)
        )
    except files.FileFailure as f:
        return Outcome(None, Failure("preprocessing", f.category, f.code, f.message))
    except TimeoutError:
        return Outcome(None, WALL_CLOCK_FAILURE)
    if not current():
        return Outcome(None)
    with (folder / "stdout.txt").open("ab") as out, (folder / "stderr.txt").open("ab") as err:
        try:
            process = await processes.launch(spec["commandLine"], wd, env, out, err)
        except processes.LaunchError as exc:
            return Outcome(None, Failure("preprocessing", "usererror", exc.code, exc.message))
        started(process)
        if not current():  # stopped while it was being launched: nothing may outlive the attempt
            processes.kill_group(process.pid)
        expired = False
        try:
            returncode = await asyncio.wait_for(process.wait(), _left(loop, deadline))
        except TimeoutError:
            processes.kill_group(process.pid)
            returncode, expired = await process.wait(), True
        except asyncio.CancelledError:  # the service is stopping: the node goes down with it
            processes.kill_group(process.pid)
            raise
    code = exit_code_of(returncode)
    failure = WALL_CLOCK_FAILURE if expired else EXIT_CODE_FAILURE if code != 0 else None
    if current() and spec.get("outputFiles"):
        try:
            await asyncio.to_thread(files.upload_outputs, spec["outputFiles"], wd, code, env)
        except files.FileFailure as f:
            failure = failure or Failure("upload", f.category, f.code, f.message)
    return Outcome(code, failure)
