"""The chaos run's webhook receiver: a loopback HTTP server that misbehaves on a seeded schedule and logs
every request it gets, so the run can count deliveries per event and check each signature.

An event's first attempt (the first request with its `webhook-id`) is answered `500` or held past the
sender's timeout with the configured shares; later attempts are answered `204`, so every event is
delivered on its retry. `down(seconds)` closes the listening socket for a while (connections refused) and
opens it again on the same port, as a receiver being redeployed.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.webhooks.endpoint import TIMEOUT_S
from shared.webhooks.signing import WebhookVerificationError, verify

MAX_BODY = 1 << 20
HOLD_S = TIMEOUT_S + 2.0  # longer than the sender waits: its attempt times out


@dataclass(frozen=True)
class Request:
    webhook_id: str
    event_type: str
    job_id: str
    verified: bool
    answered: int  # the status sent back; 0 when the answer was held past the sender's timeout


@dataclass
class ChaosReceiver:
    seed: int = 0
    error_share: float = 0.0
    timeout_share: float = 0.0
    secret: str = ""
    log: list[Request] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(seed_of(self.seed))
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._up = threading.Event()
        self._port = 0
        self._server: ThreadingHTTPServer | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hooks"

    def start(self) -> ChaosReceiver:
        self._listen()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._close()

    def down(self, seconds: float) -> None:
        """Refuse connections for `seconds`, then listen again on the same port (in the background)."""
        self._close()
        with self._lock:
            self.faults["webhook_down"] += 1
        timer = threading.Timer(seconds, lambda: None if self._stopped.is_set() else self._listen())
        timer.daemon = True
        timer.start()

    def delivered(self) -> dict[str, set[str]]:
        """Job id → the webhook ids answered 2xx for it."""
        with self._lock:
            found: dict[str, set[str]] = {}
            for r in self.log:
                if 200 <= r.answered < 300:
                    found.setdefault(r.job_id, set()).add(r.webhook_id)
            return found

    def _listen(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), MAX_BODY))
                status = receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
                if status == 0:
                    receiver._stopped.wait(HOLD_S)  # the fault itself: an answer that comes too late
                    status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        self._port = int(server.server_address[1])
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def record(self, headers: dict[str, str], body: bytes) -> int:
        """Log the request; the status to answer (0: hold it past the sender's timeout)."""
        try:
            verify(self.secret, headers, body)
            verified = True
        except WebhookVerificationError:
            verified = False
        doc: Any = _json(body)
        data = doc.get("data") if isinstance(doc, dict) else None
        job_id = str(data.get("id")) if isinstance(data, dict) else ""
        event_type = str(doc.get("type")) if isinstance(doc, dict) else "?"
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            status = 204
            if webhook_id not in self._seen:
                self._seen.add(webhook_id)
                roll = self._rng.random()
                if roll < self.error_share:
                    status = 500
                    self.faults["webhook_500"] += 1
                elif roll < self.error_share + self.timeout_share:
                    status = 0
                    self.faults["webhook_timeout"] += 1
            self.log.append(Request(webhook_id, event_type, job_id, verified, status))
        return status


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def seed_of(seed: int) -> int:
    """A seed of its own for this part of the run, derived from the run's seed."""
    return seed * 1_000_003 + 17
