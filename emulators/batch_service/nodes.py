"""Virtual nodes: a folder tree and task slots each; booted after a delay, removed per deallocation option.

States used: `creating` (booting) → `starting` (start task running) → `idle` / `running`, or
`starttaskfailed` when a start task with `waitForSuccess` fails (unusable for tasks). Removal:
`requeue` kills running tasks and puts them back, `terminate` ends them as failed, `taskcompletion` and
`retaineddata` let them finish first (the node is `leavingpool` meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulators.batch_service import documents
from emulators.batch_service.clock import Clock
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import stamp

SCHEDULABLE = ("idle", "running")
COUNT_STATES = ("creating", "idle", "offline", "preempted", "rebooting", "reimaging", "running", "starting",
                "startTaskFailed", "leavingPool", "unknown", "unusable", "waitingForStartTask", "deallocated",
                "deallocating", "upgradingOS")  # fmt: skip


class NodeManager:
    def __init__(self, store: Store, root: Path, clock: Clock, boot_delay: timedelta) -> None:
        self.store, self.base, self.clock, self.boot_delay = store, root, clock, boot_delay
        self._start_tasks: dict[str, asyncio.Task[None]] = {}

    def root(self, pool: Doc, node: Doc) -> Path:
        return self.base / str(pool["id"]) / str(node["id"])

    def _nodes(self, pool: Doc) -> list[Doc]:
        return self.store.nodes.setdefault(pool["id"].lower(), [])

    def recover(self) -> None:
        """After a restart every node boots again (its processes died with the service)."""
        for nodes in self.store.nodes.values():
            for node in nodes:
                node.update(state="creating", runningTasksCount=0, runningTaskSlotsCount=0, _tasks=[])
                node["_readyAt"] = (self.clock.now() + self.boot_delay).isoformat()

    def converge(
        self, pool: Doc, now: datetime, requeue: Callable[[Doc], None], terminate: Callable[[Doc], None]
    ) -> bool:
        nodes = self._nodes(pool)
        target = 0 if pool.get("_deleted") else int(pool["targetDedicatedNodes"]) + int(pool["targetLowPriorityNodes"])
        changed = False
        staying = [n for n in nodes if n["state"] != "leavingpool"]
        for _ in range(target - len(staying)):
            nodes.append(self._new_node(pool, now))
            changed = True
        if len(staying) > target:
            changed |= self._shrink(pool, staying, len(staying) - target, requeue, terminate)
        for node in list(nodes):
            if node["state"] == "creating" and now >= datetime.fromisoformat(node["_readyAt"]):
                self._boot(pool, node)
                changed = True
            elif node["state"] == "leavingpool" and not node.get("_tasks"):
                nodes.remove(node)
                shutil.rmtree(self.root(pool, node), ignore_errors=True)
                changed = True
        count = sum(1 for n in nodes if n["state"] != "leavingpool")
        steady = count == target and all(n["state"] != "leavingpool" for n in nodes)
        state = "steady" if steady else "resizing"
        if pool["currentDedicatedNodes"] != count or pool["allocationState"] != state:
            pool["currentDedicatedNodes"] = count
            if pool["allocationState"] != state:
                pool["allocationState"], pool["allocationStateTransitionTime"] = state, stamp()
            documents.touch(pool)
            changed = True
        return changed

    def _new_node(self, pool: Doc, now: datetime) -> Doc:
        node_id = f"tvmps_{uuid.uuid4().hex[:32]}_d"
        return {
            "id": node_id, "url": f"{pool['url']}/nodes/{node_id}", "state": "creating", "schedulingState": "enabled",
            "stateTransitionTime": stamp(), "allocationTime": stamp(), "isDedicated": True, "vmSize": pool["vmSize"],
            "affinityId": f"TVM:{node_id}", "ipAddress": "127.0.0.1", "totalTasksRun": 0, "totalTasksSucceeded": 0,
            "runningTasksCount": 0, "runningTaskSlotsCount": 0, "_tasks": [],
            "_readyAt": (now + self.boot_delay).isoformat(),
        }  # fmt: skip

    def _shrink(
        self,
        pool: Doc,
        staying: list[Doc],
        excess: int,
        requeue: Callable[[Doc], None],
        terminate: Callable[[Doc], None],
    ) -> bool:
        option = pool.get("_deallocation", "requeue")
        # Idle and still-booting nodes go first; busy ones only when needed.
        order = sorted(staying, key=lambda n: (n["state"] in ("running",), len(n.get("_tasks", []))))
        for node in order[:excess]:
            tasks = list(self._task_docs(node))
            if option in ("requeue", "terminate"):
                for task in tasks:
                    requeue(task) if option == "requeue" else terminate(task)
                node["_tasks"] = []
            node["state"] = "leavingpool"
            node["stateTransitionTime"] = stamp()
            with contextlib.suppress(KeyError):
                self._start_tasks.pop(node["id"]).cancel()
        return True

    def _task_docs(self, node: Doc) -> list[Doc]:
        found = []
        for key in node.get("_tasks", []):
            job_id, task_id = key.split("/", 1)
            task = self.store.tasks.get(job_id, {}).get(task_id)
            if task is not None and task["state"] == "running":
                found.append(task)
        return found

    def _boot(self, pool: Doc, node: Doc) -> None:
        root = self.root(pool, node)
        for folder in ("startup/wd", "shared", "workitems"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        start = pool.get("startTask")
        if not start:
            node["state"] = "idle"
            return
        node["state"] = "starting" if start.get("waitForSuccess", True) else "idle"
        self._start_tasks[node["id"]] = asyncio.get_running_loop().create_task(self._run_start_task(pool, node, start))

    async def _run_start_task(self, pool: Doc, node: Doc, start: dict[str, Any]) -> None:
        root = self.root(pool, node)
        env = {s["name"]: s.get("value", "") for s in start.get("environmentSettings", [])}
        env = {**{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}, **env,
               "AZ_BATCH_POOL_ID": pool["id"], "AZ_BATCH_NODE_ID": node["id"],
               "AZ_BATCH_NODE_ROOT_DIR": str(root), "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
               "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup")}  # fmt: skip
        with (root / "startup" / "stdout.txt").open("ab") as out, (root / "startup" / "stderr.txt").open("ab") as err:
            process = await asyncio.create_subprocess_exec(
                *shlex.split(start["commandLine"]), cwd=root / "startup" / "wd", env=env, stdout=out, stderr=err
            )
            code = await process.wait()
        result = "success" if code == 0 else "failure"
        node["startTaskInfo"] = {"state": "completed", "exitCode": code, "result": result,
                                 "startTime": stamp(), "endTime": stamp(), "retryCount": 0}  # fmt: skip
        if node["state"] == "starting":
            node["state"] = "idle" if code == 0 or not start.get("waitForSuccess", True) else "starttaskfailed"
        node["stateTransitionTime"] = stamp()
        self.store.save()

    def free_node(self, pool: Doc, slots: int) -> Doc | None:
        for node in self._nodes(pool):
            if node["state"] in SCHEDULABLE and pool["taskSlotsPerNode"] - node["runningTaskSlotsCount"] >= slots:
                return node
        return None

    def occupy(self, node: Doc, task: Doc) -> None:
        node["_tasks"].append(f"{task['url'].split('/jobs/')[1].split('/tasks/')[0].lower()}/{task['id'].lower()}")
        node["runningTasksCount"] += 1
        node["runningTaskSlotsCount"] += task["requiredSlots"]
        node["totalTasksRun"] += 1
        node["state"] = "running"

    def release(self, node: Doc, task: Doc) -> None:
        key = f"{task['url'].split('/jobs/')[1].split('/tasks/')[0].lower()}/{task['id'].lower()}"
        if key in node.get("_tasks", []):
            node["_tasks"].remove(key)
            node["runningTasksCount"] -= 1
            node["runningTaskSlotsCount"] -= task["requiredSlots"]
        if node["state"] == "running" and not node["_tasks"]:
            node["state"] = "idle"

    def usable(self, pool: Doc) -> int:
        return sum(1 for n in self._nodes(pool) if n["state"] in SCHEDULABLE)

    def counts(self, pool: Doc) -> dict[str, Any]:
        dedicated = dict.fromkeys(COUNT_STATES, 0)
        for node in self._nodes(pool):
            name = {"starttaskfailed": "startTaskFailed", "leavingpool": "leavingPool"}.get(
                node["state"], node["state"]
            )
            if name in dedicated:
                dedicated[name] += 1
        dedicated["total"] = len(self._nodes(pool))
        low = dict.fromkeys(dedicated, 0)
        return {"poolId": pool["id"], "dedicated": dedicated, "lowPriority": low}
