"""Timer-triggered functions: NCRONTAB schedules, `run_on_startup`, and schedule monitoring.

With monitoring (the default for schedules whose period is at least a minute, as in Azure) the host
keeps `timers/{hostId}/{functionId}/status` in `azure-webjobs-hosts` with the last and next
occurrences; when a start finds the recorded next occurrence already passed, it runs once at once with
`past_due = True`, as the real host does after downtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.timer import TimerRequest
from azure.storage.blob.aio import ContainerClient

from emulators.functions_host.binding_expressions import resolve_app_settings
from emulators.functions_host.index import FunctionSpec
from emulators.functions_host.invoker import InvocationFailed, Invoker
from emulators.functions_host.ncrontab import parse_schedule

log = logging.getLogger(__name__)
MONITOR_MIN_PERIOD = timedelta(minutes=1)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TimerRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        invoker: Invoker,
        hosts_container: ContainerClient,
        host_id: str,
        settings: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.spec = spec
        self.invoker = invoker
        # Azure lets a schedule come from an app setting: schedule="%MY_SCHEDULE%".
        self.schedule = parse_schedule(resolve_app_settings(str(spec.trigger.get("schedule")), settings))
        self.clock = clock
        self.container = hosts_container
        self.status_blob = f"timers/{host_id}/{spec.function_id}/status"
        use_monitor = spec.trigger.get("useMonitor")
        if use_monitor is None:
            first = self.schedule.next_after(clock())
            use_monitor = self.schedule.next_after(first) - first >= MONITOR_MIN_PERIOD
        self.use_monitor = bool(use_monitor)

    async def run(self, stop: asyncio.Event) -> None:
        now = self.clock()
        status = await self._read_status() if self.use_monitor else None
        if status is not None and datetime.fromisoformat(status["Next"]) < now:
            await self._fire(past_due=True)
        elif self.spec.trigger.get("runOnStartup"):
            await self._fire(past_due=False)
        while not stop.is_set():
            due = self.schedule.next_after(self.clock())
            await self._write_status(last=None, next_=due)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, (due - self.clock()).total_seconds()))
            if stop.is_set():
                break
            await self._fire(past_due=False)
            await self._write_status(last=due, next_=self.schedule.next_after(due))

    async def _fire(self, past_due: bool) -> None:
        hint = self.spec.annotations.get(self.spec.trigger.name)
        request: Any = TimerRequest(past_due=past_due, schedule={"AdjustForDST": True})
        value = json.dumps({"IsPastDue": past_due}) if hint is str else request
        with contextlib.suppress(InvocationFailed):  # timers have no retry: the next occurrence is the retry
            await self.invoker.invoke(self.spec, value, {})

    async def _read_status(self) -> dict[str, str] | None:
        try:
            raw = await (await self.container.get_blob_client(self.status_blob).download_blob()).readall()
        except ResourceNotFoundError:
            return None
        data: dict[str, str] = json.loads(raw)
        return data

    async def _write_status(self, last: datetime | None, next_: datetime) -> None:
        if not self.use_monitor:
            return
        previous = await self._read_status() or {}
        body = {
            "Last": last.isoformat() if last else previous.get("Last", ""),
            "Next": next_.isoformat(),
            "LastUpdated": self.clock().isoformat(),
        }
        with contextlib.suppress(ResourceExistsError):
            await self.container.create_container()
        await self.container.get_blob_client(self.status_blob).upload_blob(json.dumps(body).encode(), overwrite=True)
