"""What `sitelens demo` shows and checks: each file with what it should become, the live line, the table."""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitelens.api_client import ApiClient
from sitelens.local_pool import POOL_ID
from sitelens.stack import Stack

TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED")
ORDER = ("waiting for the trigger", "RECEIVED", "QUEUED", "RUNNING", *TERMINAL)
REFRESH_S = 1.0  # how often the live line is redrawn
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE.sub("", text).upper()


@dataclass
class Item:
    """One uploaded file: `photo` (text expected), `copy` (another photo's bytes under another name) or `bad`."""

    path: Path
    kind: str
    expected_text: tuple[str, ...] = ()
    expected_reason: str | None = None
    copy_of: Item | None = None
    job_id: str | None = None
    upload_error: str | None = None
    job: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        if self.upload_error:
            return "NOT UPLOADED"
        return str(self.job["state"]) if self.job else "waiting for the trigger"

    @property
    def text_found(self) -> list[str]:
        result = (self.job or {}).get("result") or {}
        return [str(t) for t in (result.get("summary") or {}).get("text", [])]

    @property
    def lines_read(self) -> int:
        """How many of the drawn lines the result contains (case and spacing ignored)."""
        found = _norm(" ".join(self.text_found))
        return sum(_norm(line) in found for line in self.expected_text)

    def to_json(self) -> dict[str, Any]:
        job = self.job or {}
        return {
            "photo": self.path.name, "kind": self.kind, "job_id": self.job_id, "state": self.state,
            "reason": job.get("reason") or self.upload_error, "cached": bool(job.get("cached")),
            "text": self.text_found, "expected_text": list(self.expected_text),
            "expected_reason": self.expected_reason, "lines_read": self.lines_read,
            "copy_of": self.copy_of.path.name if self.copy_of else None,
            "latency_ms": (job.get("timings") or {}).get("latency_ms"),
        }  # fmt: skip


class Live:
    """Polls the status API (one paged list per refresh) and the pool, and redraws one line."""

    def __init__(self, stack: Stack, items: list[Item], api: ApiClient, site: str) -> None:
        self.stack, self.items, self.api, self.site = stack, items, api, site
        self.batch = stack.pool().client() if stack.batch else None
        self.max_nodes = 0
        self.tty = sys.stdout.isatty()

    def follow(self, deadline_s: float) -> str | None:
        """Until every job is terminal, the deadline passes or a child of the stack exits; the name of that
        child, if one did: with it gone no job would move again, and waiting out the deadline helps no one."""
        start = time.monotonic()
        last, dead = "", None
        while True:
            api_note = self._refresh()
            line = f"   {self._jobs_line()} | pool: {self._pool_line()}{api_note} | {time.monotonic() - start:.0f} s"
            if self.tty:
                print("\r\x1b[2K" + line, end="", flush=True)
            elif line.rsplit(" | ", 1)[0] != last.rsplit(" | ", 1)[0]:  # a log gets a line per change only
                print(line, flush=True)
            last = line
            dead = self.stack.dead_child()
            if dead is not None or self._done() or time.monotonic() - start > deadline_s:
                break
            time.sleep(REFRESH_S)
        if self.tty:
            print()
        if dead is None and not self._done():
            print(f"   not every job was terminal after {deadline_s:.0f} s")
        return dead

    def _done(self) -> bool:
        return all(i.upload_error or (i.job and i.job["state"] in TERMINAL) for i in self.items)

    def _refresh(self) -> str:
        try:
            by_id = {str(j["id"]): j for j in self.api.site_jobs(self.site)}
        except (OSError, RuntimeError) as exc:  # the host is busy or restarting: keep the last view
            return f" | API: {type(exc).__name__}"
        for item in self.items:
            if item.job_id in by_id:
                item.job = by_id[item.job_id]
        return ""

    def _jobs_line(self) -> str:
        counts = Counter(i.state for i in self.items if not i.upload_error)
        shown = [f"{counts[s]} {s}" for s in ORDER if counts[s]]
        return "jobs: " + (", ".join(shown) or "none")

    def _pool_line(self) -> str:
        if self.batch is None:
            return "-"
        try:
            pool = self.batch.get_pool(POOL_ID)
            states = Counter(str(n.state).rsplit(".", 1)[-1].lower() for n in self.batch.list_nodes(POOL_ID))
        except Exception as exc:  # noqa: BLE001 (a progress line must not stop the demo)
            return f"? ({type(exc).__name__})"
        self.max_nodes = max(self.max_nodes, sum(states.values()))
        detail = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        return f"{sum(states.values())} node(s){f' ({detail})' if detail else ''}, target {pool.target_dedicated_nodes}"


def print_table(items: list[Item]) -> None:
    print(f"\n   {'photo':<34} {'state':<10} {'latency':>8}  text found / reason")
    for item in items:
        job = item.job or {}
        if item.state == "SUCCEEDED":
            text = " | ".join(item.text_found)[:64] or "(no text)"
            tally = f"  [{item.lines_read}/{len(item.expected_text)} lines]" if item.expected_text else ""
            text += tally + ("  (cached)" if job.get("cached") else "")
        else:
            text = f"{job.get('reason') or item.upload_error or '-'}: {job.get('detail') or ''}"[:80]
        latency = (job.get("timings") or {}).get("latency_ms")
        shown = f"{latency / 1000:.1f} s" if isinstance(latency, int | float) else "-"
        print(f"   {item.path.name[:34]:<34} {item.state[:10]:<10} {shown:>8}  {text}")
    states = Counter(i.state for i in items)
    cached = sum(_cached(i) for i in items)
    expected = sum(len(i.expected_text) for i in items if i.kind == "photo")
    read = sum(i.lines_read for i in items if i.kind == "photo")
    print(f"\n   {states['SUCCEEDED']} succeeded ({cached} from the cache), {states['REJECTED']} rejected, "
          f"{states['FAILED']} failed; text: {read} of {expected} drawn lines read")  # fmt: skip


def _cached(item: Item) -> bool:
    return bool((item.job or {}).get("cached"))


def judge(items: list[Item], wanted: set[str | None], verified: set[str], bad_signatures: int) -> list[str]:
    """What went other than a newcomer should see; empty when the demo worked."""
    problems = []
    for item in items:
        name, job = item.path.name, item.job or {}
        if item.upload_error:
            problems.append(f"{name}: not uploaded ({item.upload_error})")
        elif item.state not in TERMINAL:
            problems.append(f"{name}: still {item.state} at the deadline")
        elif item.kind in ("photo", "copy") and item.state != "SUCCEEDED":
            problems.append(f"{name}: {item.state} ({job.get('reason')}: {job.get('detail')}), expected SUCCEEDED")
        elif item.copy_of is not None and _cached(item) == _cached(item.copy_of):
            # Either upload may reach the trigger first; the other one must complete from its result.
            both = "both" if _cached(item) else "neither"
            problems.append(f"{name} and {item.copy_of.path.name} hold the same bytes but {both} came from the cache")
        elif item.kind == "bad" and (item.state, job.get("reason")) != ("REJECTED", item.expected_reason):
            problems.append(f"{name}: {item.state} {job.get('reason')}, expected REJECTED {item.expected_reason}")
    missing = {w for w in wanted if w} - verified
    if missing:
        problems.append(f"no verified webhook for {len(missing)} terminal job(s), e.g. {sorted(missing)[0]}")
    if bad_signatures:
        problems.append(f"{bad_signatures} webhook(s) failed signature verification")
    return problems
