"""Decode slots shared fairly between sites: one sender's photos cannot keep another site's photo waiting.

A plain semaphore serves waiters in whatever order the threads wake, so a site that uploads a burst of
slow photos keeps every slot busy for as long as its burst lasts, and a photo from any other site waits
behind all of it. Here a freed slot goes to the waiting photo whose site holds the fewest slots, the
earliest arrival among equals. A site alone still uses every slot (nothing is held back), but once another
site's photo waits it gets the next slot that frees, whatever the first site still has queued: it waits
for at most one decode to end, and the decode budget (`Limits.max_decode_cost`) bounds each decode.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Waiter:
    site: str
    granted: threading.Event = field(default_factory=threading.Event)


class FairSlots:
    """At most `count` holders at once; a freed slot goes to the site holding the fewest, first come first."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least one slot")
        self.count = count
        self._lock = threading.Lock()
        self._free = count
        self._held: Counter[str] = Counter()
        self._waiting: list[_Waiter] = []  # in arrival order; as long as the deliveries in flight

    @contextlib.contextmanager
    def hold(self, site: str) -> Iterator[None]:
        """Hold one slot for `site` for the duration of the block, waiting for one if none is free."""
        waiter = _Waiter(site)
        with self._lock:
            self._waiting.append(waiter)
            self._grant()
        waiter.granted.wait()
        try:
            yield
        finally:
            with self._lock:
                self._held[site] -= 1
                if not self._held[site]:
                    del self._held[site]
                self._free += 1
                self._grant()

    def waiting(self) -> int:
        """How many are waiting for a slot now."""
        with self._lock:
            return len(self._waiting)

    def held(self, site: str) -> int:
        """How many slots `site` holds now."""
        with self._lock:
            return self._held[site]

    def _grant(self) -> None:
        while self._free and self._waiting:
            chosen = min(self._waiting, key=lambda w: self._held[w.site])  # min keeps the earliest of equals
            self._waiting.remove(chosen)
            self._free -= 1
            self._held[chosen.site] += 1
            chosen.granted.set()
