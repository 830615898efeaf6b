"""Host configuration: `host.json` and Core Tools' `local.settings.json`, read once into typed values.

Defaults are the Storage extension 5.x defaults (QueuesOptions, BlobsOptions), including the ones that
scale with the processor count off classic Consumption, as they do under Core Tools. The blob trigger's
own queue takes nothing from `extensions.queues`: the extension builds its options from `extensions.blobs`
alone (SharedBlobQueueListenerFactory.BlobsOptionsToQueuesOptions), so a failed try is visible again at
once and empty polls back off to QueuesOptions' default of a minute (an enqueue still wakes it at once).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")
DEFAULT_MAX_POLLING = timedelta(minutes=1)  # QueuePollingIntervals.DefaultMaximum
DEFAULT_HTTP_PORT = 7071
STORAGE_SETTING = "AzureWebJobsStorage"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"


class ConfigError(ValueError):
    """host.json or local.settings.json is malformed."""


def parse_timespan(text: str) -> timedelta:
    """Parse a .NET TimeSpan as host.json writes it: `[d.]hh:mm:ss[.fffffff]`."""
    m = _TIMESPAN.match(text.strip())
    if not m:
        raise ConfigError(f"not a TimeSpan (expected hh:mm:ss): {text!r}")
    days, hours, minutes, seconds, fraction = m.groups()
    return timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=int((fraction or "0").ljust(7, "0")[:7]) // 10,
    )


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_polling_interval: timedelta = DEFAULT_MAX_POLLING
    visibility_timeout: timedelta = timedelta(0)
    max_dequeue_count: int = 5
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostConfig:
    queues: QueueOptions
    blob_queue: QueueOptions  # the internal blob-trigger queue, derived from extensions.blobs
    route_prefix: str = "api"
    function_timeout: timedelta | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def load_host_json(path: Path, cpu_count: int | None = None) -> HostConfig:
    """Read host.json (missing file = all defaults)."""
    raw: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"version": "2.0"}
    if raw.get("version") != "2.0":
        raise ConfigError(f'{path}: host.json must have "version": "2.0"')
    cpus = cpu_count or os.cpu_count() or 1
    ext = raw.get("extensions", {})
    q = ext.get("queues", {})
    batch_size = int(q.get("batchSize", 16))
    if not 1 <= batch_size <= 32:
        raise ConfigError("extensions.queues.batchSize must be within 1..32")
    queues = QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=int(q.get("newBatchThreshold", (batch_size // 2) * cpus)),
        # Core Tools caps the default at 2 s in Development; a value from host.json wins (extension >= 5).
        max_polling_interval=max(parse_timespan(q.get("maxPollingInterval", "00:00:02")), timedelta(milliseconds=100)),
        visibility_timeout=parse_timespan(q.get("visibilityTimeout", "00:00:00")),
        max_dequeue_count=max(1, int(q.get("maxDequeueCount", 5))),
        message_encoding=str(q.get("messageEncoding", "base64")).lower(),
    )
    if queues.message_encoding not in ("base64", "none"):
        raise ConfigError("extensions.queues.messageEncoding must be 'base64' or 'none'")
    b = ext.get("blobs", {})
    mdop = int(b.get("maxDegreeOfParallelism", 8 * cpus))
    blob_batch = min(32, mdop // 2 + 1)
    # A new QueuesOptions with only these three set: neither the Development cap of the polling interval
    # nor host.json's visibilityTimeout reaches it, so its five tries run back to back.
    blob_queue = QueueOptions(
        batch_size=blob_batch,
        new_batch_threshold=max(0, mdop - blob_batch),
        max_polling_interval=DEFAULT_MAX_POLLING,
        visibility_timeout=timedelta(0),
        max_dequeue_count=int(b.get("poisonBlobThreshold", 5)),
        message_encoding="base64",
    )
    timeout = raw.get("functionTimeout")
    return HostConfig(
        queues=queues,
        blob_queue=blob_queue,
        route_prefix=str(ext.get("http", {}).get("routePrefix", "api")).strip("/"),
        function_timeout=parse_timespan(timeout) if timeout else None,
        raw=raw,
    )


@dataclass(frozen=True)
class Keys:
    """Function keys. Azure keeps them in the host's secret store; locally they come from settings."""

    master: str
    host: Mapping[str, str]
    functions: Mapping[str, Mapping[str, str]]
    system: Mapping[str, str]

    def accepts(self, function_name: str, key: str | None, admin: bool) -> bool:
        if not key:
            return False
        if secrets.compare_digest(key, self.master):
            return True
        if admin:
            return False
        candidates = [*self.host.values(), *self.functions.get(function_name, {}).values()]
        return any(secrets.compare_digest(key, c) for c in candidates)


@dataclass(frozen=True)
class LocalSettings:
    values: Mapping[str, str]
    http_port: int | None
    keys: Keys
    enforce_keys: bool


def load_local_settings(path: Path, environ: Mapping[str, str]) -> LocalSettings:
    """Read local.settings.json; process environment variables win over `Values`, as with Core Tools.

    `Keys` is this host's own section (Core Tools ignores unknown sections): `master`, `host`
    ({name: key}), `functions` ({function: {name: key}}), `system`. A missing master key is generated
    per start, so keys are never a fixed, guessable value.
    """
    raw: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    values = {str(k): str(v) for k, v in raw.get("Values", {}).items()}
    values.update({k: v for k, v in environ.items() if k in values or k.startswith(("AzureWebJobs", "FUNCTIONS_"))})
    host = raw.get("Host", {})
    k = raw.get("Keys", {})
    keys = Keys(
        master=str(k.get("master") or secrets.token_urlsafe(32)),
        host={str(n): str(v) for n, v in k.get("host", {}).items()},
        functions={str(f): {str(n): str(v) for n, v in d.items()} for f, d in k.get("functions", {}).items()},
        system={str(n): str(v) for n, v in k.get("system", {}).items()},
    )
    port = host.get("LocalHttpPort")
    return LocalSettings(
        values=values,
        http_port=int(port) if port else None,
        keys=keys,
        enforce_keys=bool(host.get("EnforceKeys", True)),
    )
