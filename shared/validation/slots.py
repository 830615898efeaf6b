"""Decode slots shared fairly between sites, within a memory budget: one sender's photos cannot keep another
site's photo waiting, and photos decoded at once cannot take more memory than the process has for them.

A plain semaphore serves waiters in whatever order the threads wake, so a site that uploads a burst of
slow photos keeps every slot busy for as long as its burst lasts, and a photo from any other site waits
behind all of it. Here the next turn goes to the waiting photo whose site holds the fewest slots, the
earliest arrival among equals. A site alone still uses every slot (nothing is held back), but once another
site's photo waits it gets the next turn, whatever the first site still has queued.

Each holder also holds a weight (the memory its decode takes at its peak), and the weights held add up to at
most the budget: a turn waits until its weight fits beside the decodes running, and nothing behind it passes
it meanwhile, so lighter photos cannot starve a heavy one. Nor does a site that holds as many take the turn
from it: were the tie broken by arrival alone, a site whose only decode just ended would hold none again and
win the turn with the next photo of its queue, photo after photo. A photo heavier than the whole budget runs
alone, once the decodes running have ended. Another site's photo thus waits for at most the decodes running
when its turn comes (one, where its weight fits beside the rest), and the decode budget
(`Limits.max_decode_cost`) bounds each decode.
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
    weight: int
    granted: threading.Event = field(default_factory=threading.Event)


class FairSlots:
    """At most `count` holders at once, whose weights add up to at most `budget` (None: no budget) unless one
    holds alone; the next turn goes to the site holding the fewest, first come first."""

    def __init__(self, count: int, budget: int | None = None) -> None:
        if count < 1:
            raise ValueError("at least one slot")
        if budget is not None and budget < 1:
            raise ValueError("a budget of at least 1")
        self.count = count
        self.budget = budget
        self._lock = threading.Lock()
        self._holders = 0
        self._weight = 0  # of the holders
        self._held: Counter[str] = Counter()
        self._waiting: list[_Waiter] = []  # in arrival order; as long as the deliveries in flight
        self._turn: _Waiter | None = None  # chosen, waiting for room: it keeps the turn over sites holding as many

    @contextlib.contextmanager
    def hold(self, site: str, weight: int = 0) -> Iterator[None]:
        """Hold one slot and `weight` of the budget for `site` for the duration of the block, waiting for both."""
        if weight < 0:
            raise ValueError("a weight of at least 0")
        waiter = _Waiter(site, weight)
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
                self._holders -= 1
                self._weight -= weight
                self._grant()

    def waiting(self) -> int:
        """How many are waiting for a slot now."""
        with self._lock:
            return len(self._waiting)

    def held(self, site: str) -> int:
        """How many slots `site` holds now."""
        with self._lock:
            return self._held[site]

    def weight_held(self) -> int:
        """The weights of all holders now, added up."""
        with self._lock:
            return self._weight

    def _grant(self) -> None:
        while self._holders < self.count and self._waiting:
            # The site holding the fewest; among equals the turn already chosen, then the earliest (min keeps it).
            chosen = min(self._waiting, key=lambda w: (self._held[w.site], w is not self._turn))
            if not self._fits(chosen.weight):
                self._turn = chosen  # waits for room; letting a lighter one by could keep it waiting for ever
                return
            self._turn = None
            self._waiting.remove(chosen)
            self._holders += 1
            self._weight += chosen.weight
            self._held[chosen.site] += 1
            chosen.granted.set()

    def _fits(self, weight: int) -> bool:
        # With no holder anything fits: a photo heavier than the whole budget then runs alone, since while
        # it is held the weights held exceed the budget and no other fits beside it.
        return self.budget is None or not self._holders or self._weight + weight <= self.budget
