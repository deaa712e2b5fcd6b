"""A real HTTP receiver for webhooks on loopback: records every POST, fails the first N with 500."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """What the receiver saw: every attempt, and the bodies it accepted."""

    fail_first: int
    attempts: int = 0
    accepted: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def webhook_receiver(*, fail_first: int = 0) -> Iterator[tuple[str, Received]]:
    """(URL, Received) of a server on a free loopback port, stopped on exit."""
    received = Received(fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with received.lock:
                received.attempts += 1
                failing = received.attempts <= received.fail_first
                if not failing:
                    received.accepted.append((dict(self.headers.items()), body))
            status = 500 if failing else 200
            reply = json.dumps({"ok": not failing}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
