"""Running one task attempt on a virtual node: folders, environment, files, the process, its limits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulators.batch_service import files
from emulators.batch_service.store import Doc
from emulators.batch_service.wire import duration

WALL_CLOCK_KILLED = -9


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    wall_clock_expired: bool = False
    preparation_error: str | None = None  # a resource file could not be fetched


def task_dir(node_root: Path, job: Doc, task: Doc) -> Path:
    return node_root / "workitems" / str(job["id"]) / "job-1" / str(task["id"])


def environment(
    account: str, pool: Doc, node: Doc, *, node_root: Path, job: Doc, task: Doc, wd: Path
) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH", "VIRTUAL_ENV")
    }
    for setting in [*job.get("commonEnvironmentSettings", []), *task.get("environmentSettings", [])]:
        env[setting["name"]] = setting.get("value", "")
    env.update(
        AZ_BATCH_ACCOUNT_NAME=account,
        AZ_BATCH_POOL_ID=pool["id"],
        AZ_BATCH_NODE_ID=node["id"],
        AZ_BATCH_JOB_ID=job["id"],
        AZ_BATCH_TASK_ID=task["id"],
        AZ_BATCH_TASK_RETRY_COUNT=str(task["executionInfo"].get("retryCount", 0)),
        AZ_BATCH_TASK_WORKING_DIR=str(wd),
        AZ_BATCH_TASK_DIR=str(wd.parent),
        AZ_BATCH_NODE_ROOT_DIR=str(node_root),
        AZ_BATCH_NODE_SHARED_DIR=str(node_root / "shared"),
        AZ_BATCH_NODE_STARTUP_DIR=str(node_root / "startup"),
        AZ_BATCH_NODE_IS_DEDICATED="true",
    )
    return env


async def run(command_line: str, cwd: Path, env: dict[str, str], *, limit_s: float | None,
              processes: dict[str, asyncio.subprocess.Process], key: str,
              current: Callable[[], bool]) -> Outcome:  # fmt: skip
    """Run without a shell, as Batch does; stdout/stderr go to the task folder."""
    if not current():
        return Outcome(exit_code=WALL_CLOCK_KILLED)  # requeued or ended before it started
    with (cwd.parent / "stdout.txt").open("ab") as out, (cwd.parent / "stderr.txt").open("ab") as err:
        try:
            process = await asyncio.create_subprocess_exec(
                *shlex.split(command_line), cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
            )
        except OSError as exc:
            err.write(f"cannot start: {exc}\n".encode())
            return Outcome(exit_code=127)
        processes[key] = process
        try:
            code = await asyncio.wait_for(process.wait(), limit_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            await process.wait()
            return Outcome(exit_code=WALL_CLOCK_KILLED, wall_clock_expired=True)
        finally:
            processes.pop(key, None)
    return Outcome(exit_code=code)


async def attempt(account: str, pool: Doc, node: Doc, *, node_root: Path, job: Doc, task: Doc,
                  processes: dict[str, asyncio.subprocess.Process], token: str,
                  current: Callable[[], bool]) -> Outcome:  # fmt: skip
    wd = task_dir(node_root, job, task) / "wd"
    wd.mkdir(parents=True, exist_ok=True)
    try:
        await asyncio.to_thread(files.download_resources, task.get("resourceFiles", []), wd)
    except files.ResourceFileError as exc:
        return Outcome(exit_code=-1, preparation_error=str(exc))
    env = environment(account, pool, node, node_root=node_root, job=job, task=task, wd=wd)
    limit = duration(task["constraints"].get("maxWallClockTime"))
    limit_s = limit.total_seconds() if limit is not None and limit.days < 100_000 else None
    outcome = await run(task["commandLine"], wd, env, limit_s=limit_s, processes=processes, key=token, current=current)
    await asyncio.to_thread(files.upload_outputs, task.get("outputFiles", []), wd, outcome.exit_code == 0, env)
    return outcome
