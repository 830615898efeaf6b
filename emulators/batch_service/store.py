"""Service state: pools, nodes, jobs and tasks as their REST documents, persisted on every change.

Documents are kept in the shape GET returns them, so the wire format is what is stored. Ids are
case-insensitive and case-preserving, as in Batch: keys are lower-cased, documents keep the spelling.
The file is replaced atomically, so a killed service restarts from its last complete state.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Doc = dict[str, Any]


@dataclass
class Store:
    path: Path
    pools: dict[str, Doc] = field(default_factory=dict)
    nodes: dict[str, list[Doc]] = field(default_factory=dict)  # by pool id (lower-cased)
    jobs: dict[str, Doc] = field(default_factory=dict)
    tasks: dict[str, dict[str, Doc]] = field(default_factory=dict)  # job id → task id → task
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path) -> Store:
        store = cls(path)
        if path.is_file():
            raw = json.loads(path.read_text())
            store.pools, store.nodes, store.jobs, store.tasks = raw["pools"], raw["nodes"], raw["jobs"], raw["tasks"]
        return store

    def save(self) -> None:
        with self._lock:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(
                json.dumps({"pools": self.pools, "nodes": self.nodes, "jobs": self.jobs, "tasks": self.tasks})
            )
            tmp.replace(self.path)

    def job_tasks(self, job_id: str) -> dict[str, Doc]:
        return self.tasks.setdefault(job_id.lower(), {})

    def tasks_of_pool(self, pool_id: str) -> list[tuple[Doc, Doc]]:
        """(job, task) pairs for every task of every job bound to the pool."""
        pairs = []
        for key, job in self.jobs.items():
            if job.get("poolInfo", {}).get("poolId", "").lower() == pool_id.lower():
                pairs += [(job, task) for task in self.tasks.get(key, {}).values()]
        return pairs
