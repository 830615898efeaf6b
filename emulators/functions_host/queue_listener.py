"""One queue's listener with the Storage extension's semantics (QueueListener / QueueProcessor, 5.x).

- Fetch `batchSize` messages with a 10-minute lease; run them concurrently; fetch again only when at
  most `newBatchThreshold` are still running.
- Empty polls back off exponentially with ±20 % jitter from 100 ms up to `maxPollingInterval`; a
  message found resets the delay; `notify()` (an enqueue by this host's own output binding) wakes it.
- Success deletes. Failure releases the message after `visibilityTimeout`; the failure that reaches
  `maxDequeueCount` copies the body to `<queue>-poison` and deletes the original. A message already
  past the count is poisoned without running; one that is not valid base64 is poisoned at once. A move
  to a poison queue wakes this host's listener on that queue (`on_poisoned`), as the shared watcher does.
- A queue with no poison queue (its name ends in `-poison`, or the suffix would be too long) never
  releases a failed message, "to prevent a fast infinite loop" (QueueProcessor): it stays leased and
  comes back when its lease lapses; past the count it is never run again.
- A running message's lease is renewed at half its length, so long invocations are not redelivered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from emulators.functions_host.config import QueueOptions

log = logging.getLogger(__name__)

# The extension's 10-minute message lease. A message a crashed host held comes back only when it lapses;
# the chaos run (docs/reliability.md) shortens it with this emulator-only setting to keep its runs short.
LEASE_SETTING = "SITELENS_HOST_MESSAGE_LEASE_S"
LEASE = timedelta(seconds=float(os.environ.get(LEASE_SETTING) or 600))
MIN_POLL = timedelta(milliseconds=100)
MAX_QUEUE_NAME = 63


class DecodeError(ValueError):
    """The message body is not in the configured encoding."""


@dataclass(frozen=True)
class Delivery:
    """What a handler gets: the decoded text and the SDK message with its metadata."""

    text: str
    message: QueueMessage


Handler = Callable[[Delivery], Awaitable[None]]


def poison_queue_name(queue_name: str) -> str | None:
    """`<queue>-poison`, or None where the host keeps no poison queue (already poison, or too long)."""
    name = f"{queue_name}-poison"
    if queue_name.endswith("-poison") or len(name) > MAX_QUEUE_NAME:
        return None
    return name


def decode_body(raw: str, encoding: str) -> str:
    if encoding == "none":
        return raw
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise DecodeError(str(exc)) from exc


class Backoff:
    """Randomized exponential back-off between MIN_POLL and the configured maximum."""

    def __init__(self, maximum: timedelta, rng: random.Random | None = None) -> None:
        self._max = max(maximum, MIN_POLL).total_seconds()
        self._rng = rng or random.Random()
        self._failures = 0

    def reset(self) -> float:
        self._failures = 0
        return MIN_POLL.total_seconds()

    def next(self) -> float:
        self._failures += 1
        step = MIN_POLL.total_seconds() * (2 ** (self._failures - 1)) * self._rng.uniform(0.8, 1.2)
        return float(min(self._max, MIN_POLL.total_seconds() + step))


class QueueListener:
    """Polls one queue and runs `handler` per message until `stop()`."""

    def __init__(
        self,
        queue: QueueClient,
        poison: QueueClient | None,
        options: QueueOptions,
        handler: Handler,
        *,
        poison_immediately_on_decode_error: bool = True,
    ) -> None:
        self.queue = queue
        self.poison = poison
        self.options = options
        self.handler = handler
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()
        self._backoff = Backoff(options.max_polling_interval)
        self._poison_on_decode = poison_immediately_on_decode_error
        self.on_poisoned: Callable[[str], None] = lambda _queue: None  # the host wakes that queue's listener

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._slot_freed.set()

    async def drain(self) -> None:
        """Wait for running messages (the caller bounds this with a deadline)."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def run(self) -> None:
        delay = self._backoff.reset()
        while not self._stopping.is_set():
            while len(self._in_flight) > self.options.new_batch_threshold and not self._stopping.is_set():
                self._slot_freed.clear()
                await self._slot_freed.wait()
            if self._stopping.is_set():
                break
            try:
                messages = await self._receive()
            except ResourceNotFoundError:
                messages = []  # the queue does not exist yet: back off like an empty poll
            except Exception:
                log.exception("polling queue %s failed", self.queue.queue_name)
                messages = []
            if messages:
                delay = self._backoff.reset()
                for message in messages:
                    task = asyncio.create_task(self._process(message))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                continue
            delay = self._backoff.next()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()

    async def _receive(self) -> list[QueueMessage]:
        n = self.options.batch_size
        pages = self.queue.receive_messages(
            messages_per_page=n, max_messages=n, visibility_timeout=int(LEASE.total_seconds())
        )
        return [m async for m in pages]

    async def _process(self, message: QueueMessage) -> None:
        name = self.queue.queue_name
        if message.dequeue_count and message.dequeue_count > self.options.max_dequeue_count:
            await self._to_poison(message, f"Message has reached MaxDequeueCount of {self.options.max_dequeue_count}.")
            return
        try:
            text = decode_body(str(message.content), self.options.message_encoding)
        except DecodeError:
            log.warning("Message decoding has failed! Check MessageEncoding settings. (queue %s)", name)
            if self._poison_on_decode:
                await self._to_poison(message, "undecodable")
            return
        renewer = asyncio.create_task(self._renew(message))
        try:
            await self.handler(Delivery(text=text, message=message))
        except Exception:  # noqa: BLE001 - the handler logged it; here only the message's fate is decided
            renewer.cancel()
            await self._failed(message)
        else:
            renewer.cancel()
            with contextlib.suppress(ResourceNotFoundError):
                await self.queue.delete_message(message.id, message.pop_receipt)

    async def _renew(self, message: QueueMessage) -> None:
        half = LEASE.total_seconds() / 2
        while True:
            await asyncio.sleep(half)  # a lease-renewal period, as the host's timer does
            updated = await self.queue.update_message(
                message.id, message.pop_receipt, visibility_timeout=int(LEASE.total_seconds())
            )
            message.pop_receipt = updated.pop_receipt

    async def _failed(self, message: QueueMessage) -> None:
        if self.poison is None:
            return  # left leased: it comes back when the lease lapses, never at once
        if (message.dequeue_count or 0) >= self.options.max_dequeue_count:
            await self._to_poison(message, f"Message has reached MaxDequeueCount of {self.options.max_dequeue_count}.")
            return
        with contextlib.suppress(ResourceNotFoundError):
            await self.queue.update_message(
                message.id, message.pop_receipt, visibility_timeout=int(self.options.visibility_timeout.total_seconds())
            )

    async def _to_poison(self, message: QueueMessage, why: str) -> None:
        if self.poison is None:
            log.warning("%s Queue %s has no poison queue; the message stays leased.", why, self.queue.queue_name)
            return
        log.warning("%s Moving message to queue '%s'.", why, self.poison.queue_name)
        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        await self.poison.send_message(str(message.content))  # the body as received, still encoded
        self.on_poisoned(self.poison.queue_name)
        with contextlib.suppress(ResourceNotFoundError):
            await self.queue.delete_message(message.id, message.pop_receipt)
