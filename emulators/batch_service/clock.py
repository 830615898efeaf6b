"""The service's clock: emulated time runs `time_scale` times faster than real time.

Sampling (every 30 emulated seconds), evaluation intervals, the 30 s between enable-autoscale calls and
node boot delays use emulated time, so a test sees a whole scale-up and scale-down in seconds; at scale
1 Azure's own periods apply. Tasks are real processes: their run time and `maxWallClockTime` are real
time, and so are the timestamps on resources. A restarted service resumes emulated time where it
stopped (or at the real time, if that is later), so schedules saved in emulated time stay valid.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, time_scale: float = 1.0, resume_from: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("the time scale must be positive")
        self.scale = time_scale
        self._real0 = time.monotonic()
        start = datetime.now(UTC)
        self._emulated0 = max(start, resume_from) if resume_from is not None else start

    def now(self) -> datetime:
        return self._emulated0 + timedelta(seconds=(time.monotonic() - self._real0) * self.scale)

    def real_seconds(self, emulated: timedelta) -> float:
        return emulated.total_seconds() / self.scale
