"""A Batch and a Table call that the service keeps throttling, each answer a 503 Server Busy that asks for ten
minutes' wait (`Retry-After: 600`), fail TransientError after their retries, each wait capped.

The services are built by the real composition root, against a loopback server that answers every request so.
azure-core's RetryPolicy sleeps whatever a `Retry-After` asks, and the header makes even a POST retryable: the
task's creation slept 600 s before each of its two retries, 20 minutes in all, past every budget.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import pytest

from shared import composition
from shared.adapters.azure_batch_submitter import BatchTaskSubmitter, TaskSpec
from shared.adapters.azure_call_bounds import APP_CALLS, core_wait_s
from shared.adapters.azure_job_store import TableJobStore
from shared.config import Settings, dev_storage_connection_string
from shared.jobs.ports import TaskRequest
from tests.support.black_hole import outcomes

pytestmark = pytest.mark.integration
ASKED_S = 600
# Generous over the capped worst case (97 s), and under one wait of what the service asks.
DEADLINE_S = 120.0


class Busy:
    """A loopback server that reads each request whole and answers it 503 Server Busy, asking for `ASKED_S`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # method, path
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the client keeps its connection for the retry

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append((self.command, self.path))
                body = json.dumps({"code": "ServerBusy", "message": {"lang": "en-US", "value": "busy"}}).encode()
                self.send_response(503)
                headers = {"Retry-After": str(ASKED_S), "x-ms-error-code": "ServerBusy",
                           "Content-Type": "application/json", "Content-Length": str(len(body))}  # fmt: skip
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True, name="busy").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Busy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_the_deadline_separates_the_cap_from_what_the_service_asks() -> None:
    assert APP_CALLS.worst_case_s(core_wait_s) < DEADLINE_S < ASKED_S


def test_a_throttled_batch_and_table_call_retry_with_capped_waits_then_fail_transient() -> None:
    with Busy() as busy:
        settings = Settings.from_env({"AzureWebJobsStorage": dev_storage_connection_string(ports=(busy.port,) * 3),
                                      "SITELENS_BATCH_URL": busy.url, "SITELENS_BATCH_ACCOUNT": "sitelens",
                                      "SITELENS_BATCH_KEY": base64.b64encode(b"k" * 32).decode()})  # fmt: skip
        submitter = BatchTaskSubmitter(composition.batch_client(settings), TaskSpec(pool_id="pool", command="true"))
        task = TaskRequest(job_id="j_1", batch_job_id="sitelens-day", model="m", input_url=f"{busy.url}/in.json")
        ended = outcomes({"batch": lambda: submitter.submit(task),  # creates the task: a POST
                          "table": lambda: TableJobStore(composition.table_service(settings))},  # creates its table
                         DEADLINE_S)  # fmt: skip
    assert ended == {"batch": "TransientError", "table": "TransientError"}
    tries = ["POST"] * (APP_CALLS.retries + 1)  # the cap left the retries in place
    assert [method for method, path in busy.seen if path.startswith("/jobs/sitelens-day/tasks")] == tries
    assert [method for method, path in busy.seen if path.startswith("/devstoreaccount1/Tables")] == tries
