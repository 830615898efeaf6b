"""A loopback HTTP server that stands in for the API (or Storage) in unit tests: scripted answers by route,
one per request and the last one kept, and a record of every request that reached it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = tuple[int, dict[str, str], bytes, int | None]  # status, headers, body, declared length (None: the body's)
Seen = tuple[str, str, str | None]  # method, path with its query, the function key sent


class ScriptedServer:
    """`script[route]` holds the answers for a route, taken one per request and the last one kept; a route with
    none gets `default`. `route` maps a request's path to its key in `script` (default: the whole path). An
    answer that declares a longer body than it sends drops the connection: a reply cut short."""

    def __init__(self, default: Answer, route: Callable[[str], str] = lambda path: path) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                server.seen.append((self.command, self.path, self.headers.get("x-functions-key")))
                answers = server.script.get(route(self.path)) or [default]
                status, headers, body, length = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                if length is not None:  # this connection ends here: said, so a client never sends on it again
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = length is not None

            do_GET = do_POST = _answer

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True).start()
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
