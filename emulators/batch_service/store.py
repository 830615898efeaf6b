"""Service state: pools, nodes, jobs and tasks as their REST documents, persisted on every change.

Documents are kept in the shape GET returns them (internal fields start with `_`), so what is stored is
the wire format. Ids are case-insensitive and case-preserving, as in Batch: keys are lower-cased,
documents keep the spelling. The file is replaced atomically, so a killed service restarts from its
last complete state; a change is saved before the request that made it is answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

Doc = dict[str, Any]


@dataclass
class Store:
    path: Path
    pools: dict[str, Doc] = field(default_factory=dict)
    nodes: dict[str, list[Doc]] = field(default_factory=dict)  # by pool id (lower-cased)
    jobs: dict[str, Doc] = field(default_factory=dict)
    tasks: dict[str, dict[str, Doc]] = field(default_factory=dict)  # job id → task id → task (lower-cased)
    saved_clock: datetime | None = None  # emulated time at the last save
    clock: Callable[[], datetime] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path) -> Store:
        store = cls(path)
        if path.is_file():
            raw = json.loads(path.read_text())
            store.pools, store.nodes, store.jobs, store.tasks = raw["pools"], raw["nodes"], raw["jobs"], raw["tasks"]
            if raw.get("clock"):
                store.saved_clock = datetime.fromisoformat(raw["clock"])
        return store

    def save(self) -> None:
        state: dict[str, Any] = {"pools": self.pools, "nodes": self.nodes, "jobs": self.jobs, "tasks": self.tasks}
        if self.clock is not None:
            state["clock"] = self.clock().isoformat()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w") as f:
            json.dump(state, f)
        tmp.replace(self.path)

    def job_tasks(self, job_id: str) -> dict[str, Doc]:
        return self.tasks.setdefault(job_id.lower(), {})

    def tasks_of_pool(self, pool_id: str) -> list[tuple[Doc, Doc]]:
        """(job, task) pairs for every task of every job bound to the pool."""
        pairs = []
        for key, job in self.jobs.items():
            if str(job.get("poolInfo", {}).get("poolId", "")).lower() == pool_id.lower():
                pairs += [(job, task) for task in self.tasks.get(key, {}).values()]
        return pairs
