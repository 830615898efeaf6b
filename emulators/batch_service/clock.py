"""The service's clock: emulated time runs `time_scale` times faster than real time.

Sampling (every 30 emulated seconds), evaluation intervals and node boot delays use emulated time, so a
test sees a whole scale-up and scale-down in seconds; at scale 1 Azure's own periods apply. Tasks are
real processes: their run time and `maxWallClockTime` are real time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError("the time scale must be positive")
        self.scale = time_scale
        self._real0 = time.monotonic()
        self._emulated0 = datetime.now(UTC)

    def now(self) -> datetime:
        return self._emulated0 + timedelta(seconds=(time.monotonic() - self._real0) * self.scale)

    def real_seconds(self, emulated: timedelta) -> float:
        return emulated.total_seconds() / self.scale
