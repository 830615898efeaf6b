"""Count the requests a local stack makes, by service and operation, from the logs the stack already writes.

Three sources, each the traffic itself rather than a reading of the code:

- Azurite's `--debug` log: every request has an id, and three lines under it name the storage service
  (`BlobStorageContextMiddleware` / `QueueStorageContextMiddleware` / `TableStorageContextMiddleware`, with
  the URL), the REST operation Azurite dispatched it to (`DispatchMiddleware: Operation=Table_InsertEntity`)
  and the status it answered (`EndMiddleware: ... StatusCode=409`), so a lost conditional write counts as
  what it is.
- The local Batch service's log: one `request METHOD ROUTE STATUS` line per request
  (`emulators.batch_service.request_log`), with the route's template (`/jobs/{job}/tasks`), not its ids.
- The local Functions host's log: one `Executed 'Functions.NAME' (Succeeded|Failed, ...)` line per
  invocation, as the Azure host writes it.

`RequestCounter.mark()` remembers how far each log has been read; `since(mark)` counts what was appended
after it, so a benchmark can attribute counts to one scenario while the stack keeps running.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_AZURITE_LINE = re.compile(r"^\S+ ([0-9a-f-]{36}) \w+: (.*)$")
_CONTEXT = re.compile(r"^(Blob|Queue|Table)StorageContextMiddleware: RequestMethod=(\S+) RequestURL=(\S+)", re.I)
_OPERATION = re.compile(r"^DispatchMiddleware: Operation=(\S+)")
_END = re.compile(r"^EndMiddleware: End response\. .*StatusCode=(\d+)")
_BATCH = re.compile(r"emulators\.batch_service\.request_log: request (\S+) (\S+) (\d+)$")
_EXECUTED = re.compile(r"Executed 'Functions\.([^']+)' \((Succeeded|Failed), Id=\S+, Duration=(\d+)ms")

# The local Functions host finds new blobs by scanning (Azurite sends no Event Grid events) and keeps blob
# receipts and trigger messages as the polling blob trigger does; in Azure the app's blob trigger takes
# Event Grid events instead (each still passes through the trigger's own queue: docs/scale.md counts those 3
# requests a photo), so this traffic is counted apart from the app's. Queue triggers poll with Get Messages
# whether or not a message waits (in Azure too: host.json's maxPollingInterval, 2 s, bounds the back-off when
# idle): a cost per second, not per photo, so Get Messages is counted apart as well; the messages a trigger
# takes are its queue-triggered executions.
HOST_RESOURCES = re.compile(r"^(azure-webjobs-|\$logs)")
HOST_OPERATIONS = frozenset({"Container_ListBlobFlatSegment", "Messages_Dequeue"})


@dataclass(frozen=True)
class StorageRequest:
    service: str  # blob, queue or table
    operation: str  # Azurite's name of the REST operation, e.g. BlockBlob_StageBlock, Table_MergeEntity
    resource: str  # the container, queue or table
    status: int

    @property
    def kind(self) -> str:
        """`service operation`, with the status class when it is not a success (a lost condition: 412/409)."""
        suffix = "" if self.status < 400 else f" -> {self.status}"
        return f"{self.service} {self.operation}{suffix}"


def _resource(url: str) -> str:
    path = url.split("://", 1)[-1].split("?", 1)[0].split("/")
    name = path[2] if len(path) > 2 else ""
    return name.split("(", 1)[0]


def parse_azurite(text: str) -> list[StorageRequest]:
    """Every complete request in a stretch of Azurite's debug log (ones cut at either end are skipped)."""
    context: dict[str, tuple[str, str]] = {}
    operation: dict[str, str] = {}
    done: list[StorageRequest] = []
    for line in text.splitlines():
        match = _AZURITE_LINE.match(line)
        if match is None:
            continue
        request_id, message = match.groups()
        if found := _CONTEXT.match(message):
            context[request_id] = (found[1].lower(), _resource(found[3]))
        elif found := _OPERATION.match(message):
            operation[request_id] = found[1]
        elif (found := _END.match(message)) and request_id in context:
            service, resource = context.pop(request_id)
            done.append(StorageRequest(service, operation.pop(request_id, "unknown"), resource, int(found[1])))
    return done


def parse_batch(text: str) -> Counter[str]:
    return Counter(f"batch {m[1]} {m[2]}" + ("" if int(m[3]) < 400 else f" -> {m[3]}")
                   for m in map(_BATCH.search, text.splitlines()) if m)  # fmt: skip


def parse_executions(text: str) -> tuple[Counter[str], Counter[str]]:
    """Invocations by function (a failed one marked so), and the milliseconds they ran, by function."""
    runs: Counter[str] = Counter()
    ms: Counter[str] = Counter()
    for m in map(_EXECUTED.search, text.splitlines()):
        if m:
            runs[m[1] + ("" if m[2] == "Succeeded" else " (failed)")] += 1
            ms[m[1]] += int(m[3])
    return runs, ms


@dataclass
class Counts:
    storage: Counter[str] = field(default_factory=Counter)  # the app's and devices' storage requests
    host_storage: Counter[str] = field(default_factory=Counter)  # the local host's trigger machinery
    batch: Counter[str] = field(default_factory=Counter)
    executions: Counter[str] = field(default_factory=Counter)
    execution_ms: Counter[str] = field(default_factory=Counter)
    by_resource: Counter[str] = field(default_factory=Counter)  # `service resource`, the app's requests

    def kinds(self) -> set[str]:
        return set(self.storage) | set(self.batch) | {f"execution {k}" for k in self.executions}


@dataclass(frozen=True)
class Mark:
    offsets: tuple[int, int, int]


@dataclass
class RequestCounter:
    azurite_log: Path
    batch_log: Path
    host_log: Path

    def _paths(self) -> tuple[Path, Path, Path]:
        return self.azurite_log, self.batch_log, self.host_log

    def mark(self) -> Mark:
        sizes = [p.stat().st_size if p.exists() else 0 for p in self._paths()]
        return Mark((sizes[0], sizes[1], sizes[2]))

    def since(self, mark: Mark) -> Counts:
        azurite, batch, host = (_read_from(p, o) for p, o in zip(self._paths(), mark.offsets, strict=True))
        runs, ms = parse_executions(host)
        counts = Counts(batch=parse_batch(batch), executions=runs, execution_ms=ms)
        for request in parse_azurite(azurite):
            if HOST_RESOURCES.match(request.resource) or request.operation in HOST_OPERATIONS:
                counts.host_storage[request.kind] += 1
            else:
                counts.storage[request.kind] += 1
                counts.by_resource[f"{request.service} {request.resource}"] += 1
        return counts


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", errors="replace")
