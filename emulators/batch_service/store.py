"""Service state: pools, nodes, jobs and tasks as their REST documents, persisted on every change.

Documents are kept in the shape GET returns them (internal fields start with `_`), so what is stored is
the wire format. Ids are case-insensitive and case-preserving, as in Batch: keys are lower-cased,
documents keep the spelling. A change is saved before the request that made it is answered, and a killed
service restarts from its last complete save.

Two files, so that a save costs what is still moving rather than everything the service has seen:

- `state.json`: pools, nodes, jobs and every task not completed, replaced atomically on each save;
- `state.completed.jsonl`: each completed task appended once (again if it changes, and a tombstone when it
  is deleted). A run of thousands of tasks rewrote them all on every change otherwise, a cost that grew
  with the square of the tasks (10,000 tasks: about 20 MB per save).

On load a task in `state.json` wins over the journal (it came back to life, say by a reactivation), and
the journal's last line for a task wins over earlier ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

Doc = dict[str, Any]
TaskKey = tuple[str, str]  # (job key, task key), both lower-cased


@dataclass
class Store:
    path: Path
    pools: dict[str, Doc] = field(default_factory=dict)
    nodes: dict[str, list[Doc]] = field(default_factory=dict)  # by pool id (lower-cased)
    jobs: dict[str, Doc] = field(default_factory=dict)
    tasks: dict[str, dict[str, Doc]] = field(default_factory=dict)  # job id → task id → task (lower-cased)
    saved_clock: datetime | None = None  # emulated time at the last save
    clock: Callable[[], datetime] | None = field(default=None, repr=False)
    # Completed tasks already in the journal, with the eTag written (every change to a document renews it).
    journaled: dict[TaskKey, str] = field(default_factory=dict, repr=False)

    @property
    def journal_path(self) -> Path:
        return self.path.with_name(self.path.stem + ".completed.jsonl")

    @classmethod
    def load(cls, path: Path) -> Store:
        store = cls(path)
        if path.is_file():
            raw = json.loads(path.read_text())
            store.pools, store.nodes, store.jobs, store.tasks = raw["pools"], raw["nodes"], raw["jobs"], raw["tasks"]
            if raw.get("clock"):
                store.saved_clock = datetime.fromisoformat(raw["clock"])
        completed: dict[TaskKey, Doc] = {}
        if store.journal_path.is_file():
            for line in store.journal_path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill mid-append: its save never finished
                    continue
                key = (entry["job"], entry["task"])
                if entry.get("doc") is None:
                    completed.pop(key, None)
                else:
                    completed[key] = entry["doc"]
        for (job, task), doc in completed.items():
            tasks = store.tasks.get(job)
            if tasks is None:  # the job is gone (deleted after its tasks completed)
                continue
            if task not in tasks:
                tasks[task] = doc
                store.journaled[(job, task)] = str(doc.get("eTag"))
        store._compact()
        return store

    def _compact(self) -> None:
        """Rewrite the journal with one line per completed task: no tombstones, superseded lines or a last line
        a kill cut short (the next append would have joined it)."""
        if not self.journal_path.is_file():
            return
        tmp = self.journal_path.with_name(self.journal_path.name + ".tmp")
        tmp.write_text("".join(_line(job, task, self.tasks[job][task]) for job, task in self.journaled))
        tmp.replace(self.journal_path)

    def save(self) -> None:
        lines, active = self._journal_lines()
        if lines:
            with self.journal_path.open("a") as journal:
                journal.write("".join(lines))
        state: dict[str, Any] = {"pools": self.pools, "nodes": self.nodes, "jobs": self.jobs, "tasks": active}
        if self.clock is not None:
            state["clock"] = self.clock().isoformat()
        tmp = self.path.with_name(self.path.name + ".tmp")
        # json.dumps, not json.dump: only the one-shot encoder is C; dump's chunked one is pure Python and
        # costs three times as much.
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)

    def _journal_lines(self) -> tuple[list[str], dict[str, dict[str, Doc]]]:
        """Journal lines for completed tasks new or changed since their last line and for journaled tasks now
        deleted; and the tasks `state.json` keeps (every one not completed)."""
        lines: list[str] = []
        active: dict[str, dict[str, Doc]] = {}
        present: set[TaskKey] = set()
        for job, tasks in self.tasks.items():
            kept = active[job] = {}
            for task, doc in tasks.items():
                key = (job, task)
                if doc.get("state") != "completed":
                    kept[task] = doc
                    continue
                present.add(key)
                etag = str(doc.get("eTag"))
                if self.journaled.get(key) != etag:
                    lines.append(_line(job, task, doc))
                    self.journaled[key] = etag
        for key in [k for k in self.journaled if k not in present]:  # deleted, or active again
            del self.journaled[key]
            lines.append(_line(*key, None))
        return lines, active

    def job_tasks(self, job_id: str) -> dict[str, Doc]:
        return self.tasks.setdefault(job_id.lower(), {})

    def tasks_of_pool(self, pool_id: str) -> list[tuple[Doc, Doc]]:
        """(job, task) pairs for every task of every job bound to the pool."""
        pairs = []
        for key, job in self.jobs.items():
            if str(job.get("poolInfo", {}).get("poolId", "")).lower() == pool_id.lower():
                pairs += [(job, task) for task in self.tasks.get(key, {}).values()]
        return pairs


def _line(job: str, task: str, doc: Doc | None) -> str:
    return json.dumps({"job": job, "task": task, "doc": doc}) + "\n"
