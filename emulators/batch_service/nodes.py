"""Virtual nodes: a folder tree and task slots each; booted after a delay, removed per deallocation option.

Life of a node: `creating` (allocation, the first half of the boot delay) → `starting` (the second half)
→ `waitingforstarttask` while a start task with `waitForSuccess` runs → `idle` / `running`; a start
task that still fails after its retries leaves it `starttaskfailed`, where no task runs. Removal:
`requeue` kills running tasks and puts them back, `terminate` ends them as failed, `taskcompletion` and
`retaineddata` let them finish first (the node is `leavingpool` meanwhile). A removed node's processes
are killed and its folder deleted, as a deallocated VM's would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from emulators.batch_service import documents, execution, processes
from emulators.batch_service.clock import Clock
from emulators.batch_service.store import Doc, Store
from emulators.batch_service.wire import stamp

log = logging.getLogger(__name__)
SCHEDULABLE = ("idle", "running")
_REMOVED_FIRST = ("creating", "starting", "starttaskfailed", "unusable", "waitingforstarttask", "idle")
COUNT_STATES = ("creating", "idle", "offline", "preempted", "rebooting", "reimaging", "running", "starting",
                "startTaskFailed", "leavingPool", "unknown", "unusable", "waitingForStartTask", "deallocated",
                "deallocating", "upgradingOS")  # fmt: skip
_KINDS = (
    (True, "targetDedicatedNodes", "currentDedicatedNodes"),
    (False, "targetLowPriorityNodes", "currentLowPriorityNodes"),
)
# node states in /nodecounts are camel-cased where they are two words
_COUNT_NAMES = {"starttaskfailed": "startTaskFailed", "leavingpool": "leavingPool",
                "waitingforstarttask": "waitingForStartTask", "upgradingos": "upgradingOS"}  # fmt: skip
TaskAction = Callable[[Doc], None]


class NodeManager:
    def __init__(self, store: Store, base: Path, clock: Clock, boot_delay: timedelta, *, account: str,
                 account_url: str, on_change: Callable[[], None]) -> None:  # fmt: skip
        self.store, self.base, self.clock, self.boot_delay = store, base, clock, boot_delay
        self.account, self.account_url, self.on_change = account, account_url, on_change
        self._start_tasks: dict[str, asyncio.Task[None]] = {}

    def root(self, pool: Doc, node: Doc) -> Path:
        return self.base / str(pool["id"]) / str(node["id"])

    def of(self, pool: Doc) -> list[Doc]:
        return self.store.nodes.setdefault(pool["id"].lower(), [])

    def environment(self, pool: Doc, node: Doc) -> dict[str, str]:
        return execution.node_environment(self.account, self.account_url, pool, node, self.root(pool, node))

    # --- service lifecycle ------------------------------------------------------------------------------
    def recover(self) -> None:
        """After a restart every node boots again: whatever still runs from the previous life is killed."""
        if killed := processes.kill_under(self.base):
            log.info("killed %d processes left running by a previous run", killed)
        now = self.clock.now()
        for nodes in self.store.nodes.values():
            for node in nodes:
                node.update(runningTasksCount=0, runningTaskSlotsCount=0, _tasks=[])
                if node["state"] == "leavingpool":
                    node["_gone"] = True  # removed at the next converge, as its tasks went with the service
                else:
                    self._set_state(node, "creating")
                    node.pop("startTaskInfo", None)
                    node.update(
                        _startingAt=(now + self.boot_delay / 2).isoformat(),
                        _readyAt=(now + self.boot_delay).isoformat(),
                    )

    def shutdown(self) -> None:
        for job in self._start_tasks.values():
            job.cancel()
        processes.kill_under(self.base)

    # --- converging on the targets -----------------------------------------------------------------------
    def converge(self, pool: Doc, now: datetime, requeue: TaskAction, terminate: TaskAction) -> bool:
        nodes = self.of(pool)
        deleting = pool["state"] == "deleting"
        changed = False
        for dedicated, target_key, _ in _KINDS:
            target = 0 if deleting else int(pool[target_key])
            staying = [n for n in nodes if n.get("isDedicated", True) == dedicated and n["state"] != "leavingpool"]
            for _ in range(target - len(staying)):
                nodes.append(self._new_node(pool, now, dedicated=dedicated))
                changed = True
            if len(staying) > target:
                option = "requeue" if deleting else pool.get("_deallocation", "requeue")
                self._shrink(staying, len(staying) - target, option, requeue, terminate)
                changed = True
        for node in list(nodes):
            if node["state"] == "creating" and now >= datetime.fromisoformat(node["_startingAt"]):
                self._set_state(node, "starting")
                changed = True
            if node["state"] == "starting" and now >= datetime.fromisoformat(node["_readyAt"]):
                self._boot(pool, node)
                changed = True
            elif node["state"] == "leavingpool" and (not node.get("_tasks") or node.get("_gone")):
                self._remove(pool, node)
                changed = True
        return self._update_counts(pool, nodes) or changed

    def _update_counts(self, pool: Doc, nodes: list[Doc]) -> bool:
        changed = False
        steady = True
        for dedicated, target_key, current_key in _KINDS:
            count = sum(1 for n in nodes if n.get("isDedicated", True) == dedicated and n["state"] != "leavingpool")
            steady &= count == (0 if pool["state"] == "deleting" else int(pool[target_key]))
            if pool[current_key] != count:
                pool[current_key] = count
                changed = True
        steady &= not any(n["state"] in ("creating", "leavingpool") for n in nodes)
        state = "steady" if steady else "resizing"
        if pool["allocationState"] != state:
            pool["allocationState"], pool["allocationStateTransitionTime"] = state, stamp()
            changed = True
        if changed:
            documents.touch(pool)
        return changed

    def _new_node(self, pool: Doc, now: datetime, *, dedicated: bool) -> Doc:
        node_id = f"tvmps_{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}_{'d' if dedicated else 'p'}"
        return {
            "id": node_id, "url": f"{pool['url']}/nodes/{node_id}", "state": "creating", "isDedicated": dedicated,
            "schedulingState": "enabled", "stateTransitionTime": stamp(), "allocationTime": stamp(),
            "vmSize": pool["vmSize"],
            "affinityId": f"TVM:{node_id}", "ipAddress": "127.0.0.1", "totalTasksRun": 0, "totalTasksSucceeded": 0,
            "runningTasksCount": 0, "runningTaskSlotsCount": 0, "nodeAgentInfo": {"version": "local"}, "_tasks": [],
            "_startingAt": (now + self.boot_delay / 2).isoformat(), "_readyAt": (now + self.boot_delay).isoformat(),
        }  # fmt: skip

    def _shrink(self, staying: list[Doc], excess: int, option: str, requeue: TaskAction, terminate: TaskAction) -> None:
        # Nodes doing nothing go first; then the least busy.
        order = sorted(staying, key=lambda n: (n["state"] not in _REMOVED_FIRST, len(n.get("_tasks", []))))
        for node in order[:excess]:
            if option in ("requeue", "terminate"):
                for task in self._running_tasks(node):
                    (requeue if option == "requeue" else terminate)(task)
                node["_tasks"] = []
            self._set_state(node, "leavingpool")

    def _running_tasks(self, node: Doc) -> list[Doc]:
        found = []
        for key in node.get("_tasks", []):
            job_id, task_id = key.split("/", 1)
            task = self.store.tasks.get(job_id, {}).get(task_id)
            if task is not None and task["state"] == "running":
                found.append(task)
        return found

    def _remove(self, pool: Doc, node: Doc) -> None:
        with contextlib.suppress(KeyError):
            self._start_tasks.pop(node["id"]).cancel()
        root = self.root(pool, node)
        processes.kill_under(root)
        shutil.rmtree(root, ignore_errors=True)
        self.of(pool).remove(node)

    @staticmethod
    def _set_state(node: Doc, state: str) -> None:
        node["state"], node["stateTransitionTime"] = state, stamp()

    # --- booting and the start task ------------------------------------------------------------------------
    def _boot(self, pool: Doc, node: Doc) -> None:
        root = self.root(pool, node)
        for folder in ("startup/wd", "shared", "workitems", "fsmounts"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        node["lastBootTime"] = stamp()
        start = pool.get("startTask")
        if not start:
            self._set_state(node, "idle")
            return
        wait = start.get("waitForSuccess", True) is not False
        self._set_state(node, "waitingforstarttask" if wait else "idle")
        task = asyncio.get_running_loop().create_task(self._run_start_task(pool, node, dict(start)))
        self._start_tasks[node["id"]] = task
        task.add_done_callback(lambda _t: self._start_tasks.pop(node["id"], None))

    async def _run_start_task(self, pool: Doc, node: Doc, start: dict[str, Any]) -> None:
        root = self.root(pool, node)
        retries = int(start.get("maxTaskRetryCount") or 0)
        attempt = 0
        while True:
            info: Doc = {"state": "running", "startTime": stamp(), "retryCount": attempt}
            if attempt:
                info["lastRetryTime"] = info["startTime"]
            node["startTaskInfo"] = info
            env = execution.with_settings(self.environment(pool, node), start.get("environmentSettings") or [], {
                "AZ_BATCH_TASK_DIR": str(root / "startup"), "AZ_BATCH_TASK_WORKING_DIR": str(root / "startup" / "wd"),
                "AZ_BATCH_TASK_USER_IDENTITY": "PoolNonAdmin",
            })  # fmt: skip
            outcome = await execution.attempt(start, root / "startup", env, limit_s=None, started=lambda _p: None,
                                              current=lambda: True)  # fmt: skip
            if not outcome.retryable or (retries != -1 and attempt >= retries):
                break
            attempt += 1
        info.update(state="completed", endTime=stamp(), result="failure" if outcome.failure else "success")
        if outcome.exit_code is not None:
            info["exitCode"] = outcome.exit_code
        if outcome.failure:
            info["failureInfo"] = outcome.failure.info()
        if node["state"] == "waitingforstarttask":
            self._set_state(node, "starttaskfailed" if outcome.failure else "idle")
        self.on_change()

    # --- slots ---------------------------------------------------------------------------------------------
    def free_node(self, pool: Doc, slots: int) -> Doc | None:
        """A node with `slots` free: the emptiest (spread, Batch's default) or the fullest that fits (pack)."""
        per_node = int(pool["taskSlotsPerNode"])
        fits = [n for n in self.of(pool) if n["state"] in SCHEDULABLE and n.get("schedulingState") != "disabled"
                and per_node - n["runningTaskSlotsCount"] >= slots]  # fmt: skip
        if not fits:
            return None
        pack = (pool.get("taskSchedulingPolicy") or {}).get("nodeFillType") == "pack"
        return (
            max(fits, key=lambda n: n["runningTaskSlotsCount"])
            if pack
            else min(fits, key=lambda n: n["runningTaskSlotsCount"])
        )

    @staticmethod
    def occupy(node: Doc, job: Doc, task: Doc) -> None:
        node["_tasks"].append(f"{job['id'].lower()}/{task['id'].lower()}")
        node["runningTasksCount"] += 1
        node["runningTaskSlotsCount"] += task["requiredSlots"]
        node["totalTasksRun"] += 1
        node["state"] = "running"

    @staticmethod
    def release(node: Doc, job_id: str, task: Doc) -> None:
        key = f"{job_id.lower()}/{task['id'].lower()}"
        if key in node.get("_tasks", []):
            node["_tasks"].remove(key)
            node["runningTasksCount"] -= 1
            node["runningTaskSlotsCount"] -= task["requiredSlots"]
        if node["state"] == "running" and not node["_tasks"]:
            node["state"] = "idle"

    def usable(self, pool: Doc) -> int:
        return sum(1 for n in self.of(pool) if n["state"] in SCHEDULABLE)

    def counts(self, pool: Doc) -> Doc:
        result: Doc = {"poolId": pool["id"]}
        for dedicated, name in ((True, "dedicated"), (False, "lowPriority")):
            counts = dict.fromkeys(COUNT_STATES, 0)
            mine = [n for n in self.of(pool) if n.get("isDedicated", True) == dedicated]
            for node in mine:
                key = _COUNT_NAMES.get(node["state"], node["state"])
                if key in counts:
                    counts[key] += 1
            result[name] = {**counts, "total": len(mine)}
        return result
