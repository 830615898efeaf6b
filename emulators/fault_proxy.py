"""A loopback TCP proxy that breaks a configured share of the HTTP requests it carries, for the chaos run.

    proxy = FaultProxy(target_port=azurite_blob_port, faults=Faults(reset=0.01, drop=0.01, delay=0.02), seed=7)
    proxy.start()   # clients connect to proxy.port exactly as they would to storage

Each client connection is relayed to the target byte for byte. The proxy looks only at where a request
starts (a chunk from the client that begins with an HTTP method), so keep-alive connections are faulted per
request, not once per connection. For each request it draws, from its own seeded generator:

- `reset`: the connection is closed with a TCP reset before the request reaches storage (the client sees
  `ECONNRESET`; storage never saw the request);
- `drop`: the request reaches storage, but the reply is thrown away and the connection closed (storage did
  the work, the client does not know it): the case that only idempotent writes survive;
- `delay`: the request waits `delay_s` before it is forwarded;
- `refuse`: a write (PUT) whose path contains one of `refuse_paths` is answered `503 Server Busy` by the
  proxy itself, as storage answers when it throttles, for the first `refuse_times` such writes of a key
  (the path segment after the match) drawn with probability `refuse_share`, the first `refuse_first` keys
  whatever the draw (so a short run is sure to see the fault): a node's result writes refused for one
  attempt of a task, so the task fails and Batch retries it.

Faults are injected only while `enabled` is set, so a stack can start and be set up unharmed. `counts`
says what was injected, by kind. Threads, not asyncio: the relay is a few sockets and must keep running
while the caller blocks.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ", b"MERGE ", b"PATCH ", b"OPTIONS ")
BUSY = b"HTTP/1.1 503 Server Busy\r\nContent-Length: 0\r\nx-ms-error-code: ServerBusy\r\nConnection: close\r\n\r\n"
CHUNK = 65536


@dataclass(frozen=True)
class Faults:
    reset: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    delay_s: float = 0.2
    refuse_share: float = 0.0
    refuse_paths: tuple[bytes, ...] = ()
    refuse_times: int = 4  # one attempt's writes: the SDK's first try and its three retries
    refuse_first: int = 0  # keys refused whatever the draw, before any is drawn

    def __post_init__(self) -> None:
        for name in ("reset", "drop", "delay", "refuse_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, not {value}")
        if self.reset + self.drop + self.delay > 1.0:
            raise ValueError("reset + drop + delay must not exceed 1")


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: SO_LINGER on, zero seconds."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()


class FaultProxy:
    def __init__(self, target_port: int, faults: Faults | None = None, *, seed: int = 0,
                 target_host: str = "127.0.0.1", port: int = 0) -> None:  # fmt: skip
        self.target = (target_host, target_port)
        self.faults = faults or Faults()
        self.enabled = threading.Event()
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._refused: Counter[bytes] = Counter()  # key → writes refused so far
        self._spared: set[bytes] = set()  # keys drawn once and not chosen
        self._listener = socket.create_server(("127.0.0.1", port), backlog=256)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"fault-proxy-{self.port}", daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        _close(self._listener)
        if self._thread.is_alive():
            self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        dropping = threading.Event()  # set: the current reply is thrown away
        back = threading.Thread(target=self._replies, args=(server, client, dropping), daemon=True)
        back.start()
        try:
            while chunk := client.recv(CHUNK):
                kind = self._decide(chunk) if chunk.startswith(METHODS) else None
                if kind == "reset":
                    _reset(client)
                    break
                if kind == "refuse":
                    client.sendall(BUSY)
                    break
                if kind == "delay":
                    time.sleep(self.faults.delay_s)  # the fault itself: the request held on the wire
                if kind == "drop":
                    dropping.set()
                server.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _replies(self, server: socket.socket, client: socket.socket, dropping: threading.Event) -> None:
        try:
            while chunk := server.recv(CHUNK):
                if dropping.is_set():  # storage answered; the client never hears it
                    break
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _decide(self, head: bytes) -> str | None:
        with self._lock:
            self.requests += 1
            if not self.enabled.is_set():
                return None
            kind = self._refusal(head) or self._draw()
            if kind is not None:
                self.counts[kind] += 1
            return kind

    def _draw(self) -> str | None:
        f, roll = self.faults, self._rng.random()
        if roll < f.reset:
            return "reset"
        if roll < f.reset + f.drop:
            return "drop"
        if roll < f.reset + f.drop + f.delay:
            return "delay"
        return None

    def _refusal(self, head: bytes) -> str | None:
        f = self.faults
        if not f.refuse_paths or not head.startswith(b"PUT "):
            return None
        path = head.split(b" ", 2)[1].split(b"?", 1)[0]
        for marker in f.refuse_paths:
            if marker in path:
                key = path.split(marker, 1)[1].split(b"/", 1)[0]
                break
        else:
            return None
        if key in self._spared:
            return None
        first = len(self._refused) < f.refuse_first
        if self._refused[key] == 0 and not first and self._rng.random() >= f.refuse_share:
            self._spared.add(key)
            return None
        if self._refused[key] >= f.refuse_times:
            return None
        self._refused[key] += 1
        return "refuse"
