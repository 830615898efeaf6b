"""The demo's webhook receiver: a loopback HTTP server that verifies each delivery's signature."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.webhooks.signing import WebhookVerificationError, verify

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    event_type: str
    job_id: str
    verified: bool


@dataclass
class DemoReceiver:
    secret: str = ""  # set once the subscription returns it
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                receiver.record({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:  # the demo prints its own summary
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._arrived = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def record(self, headers: dict[str, str], body: bytes) -> None:
        try:
            verify(self.secret, headers, body)
            verified = True
        except WebhookVerificationError:
            verified = False
        try:
            doc: Any = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        data = doc.get("data") if isinstance(doc, dict) else None
        job_id = str(data.get("id")) if isinstance(data, dict) else ""
        event_type = str(doc.get("type")) if isinstance(doc, dict) else "?"
        with self._arrived:
            self.deliveries.append(Delivery(headers.get("webhook-id", ""), event_type, job_id, verified))
            self._arrived.notify_all()

    def wait_for(self, job_ids: Iterable[str | None], timeout: float) -> bool:
        """Until a verified delivery arrived for each job, or `timeout` seconds; whether they all came."""
        wanted = {j for j in job_ids if j}
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not wanted <= {d.job_id for d in self.deliveries if d.verified}:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def __enter__(self) -> DemoReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
