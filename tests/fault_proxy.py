"""An HTTP proxy on loopback that forwards to an S3 server but answers some requests with 503.

    python -m tests.fault_proxy --upstream http://127.0.0.1:5000 --port 0 --fault-rate 0.3 --seed 7

It prints its own URL on the first line of stdout once it listens (useful with `--port 0`).
Every request (any method, headers and body as the client sent them, Host included) goes to the
upstream server and the response streams back, except a seeded random fraction, which gets
`503 SlowDown` with an S3 XML error body and is never forwarded: a retry is always safe.
`GET /__stats` returns {"requests", "faults", "forwarded", "chunked", "answers_lost", "methods"} as
JSON (not itself counted); "chunked" counts request bodies sent with `Transfer-Encoding: chunked`
(pyarrow's streamed `aws-chunked` uploads), which are de-chunked and forwarded with a
Content-Length; "methods" counts requests by HTTP method. `--strip-conditional` drops
If-None-Match and If-Match from every request: a store that ignores conditional writes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
)
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
# Per-connection headers (RFC 9110 section 7.6.1) and Expect, which this proxy has already answered.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
}
PIECE = 64 * 1024


class FaultProxy(ThreadingHTTPServer):
    """The listening server: upstream address, fault decisions and counters shared by handlers."""

    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent clients must not overflow the backlog

    def __init__(
        self,
        address: tuple[str, int],
        *,
        upstream: str,
        fault_rate: float,
        seed: int,
        lose_answer: str | None = None,
        strip_conditional: bool = False,
    ):
        super().__init__(address, ProxyHandler)
        self.strip_conditional = strip_conditional
        self.lose_answer = lose_answer  # path substring: the first such PUT lands, its answer is lost
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self.fault_rate = fault_rate
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "faults": 0, "forwarded": 0, "chunked": 0, "answers_lost": 0}
        self.methods: dict[str, int] = {}

    def should_fail(self, method: str) -> bool:
        """Count one request and decide whether it gets a fault."""
        with self._lock:
            self.stats["requests"] += 1
            self.methods[method] = self.methods.get(method, 0) + 1
            fail = self._random.random() < self.fault_rate
            self.stats["faults" if fail else "forwarded"] += 1
            return fail

    def take_lost_answer(self, method: str, path: str) -> bool:
        """True once for the first PUT whose path contains the lose_answer substring."""
        with self._lock:
            if self.lose_answer and method == "PUT" and self.lose_answer in path and not self.stats["answers_lost"]:
                self.stats["answers_lost"] += 1
                return True
            return False

    def count_chunked(self) -> None:
        with self._lock:
            self.stats["chunked"] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**self.stats, "methods": dict(self.methods)}


class ProxyHandler(BaseHTTPRequestHandler):
    """Forwards one request (or fails it) per call; keeps client connections alive."""

    protocol_version = "HTTP/1.1"
    server: FaultProxy

    def log_message(self, format: str, *args) -> None:
        pass

    def _handle(self) -> None:
        if self.command == "GET" and self.path == "/__stats":
            self._reply(200, json.dumps(self.server.snapshot()).encode(), "application/json")
            return
        body = self._read_body()  # always consumed, so a kept-alive connection stays in sync
        if self.server.should_fail(self.command):
            self._reply(503, SLOW_DOWN, "application/xml", reason="Slow Down")
            return
        try:
            if self.server.take_lost_answer(self.command, self.path):
                self._forward(body, relay=False)  # the store applies the write...
                self._reply(
                    500, INTERNAL_ERROR, "application/xml", reason="Internal Error"
                )  # ...the client never hears
                return
            self._forward(body)
        except OSError as exc:
            self.close_connection = True
            self._reply(502, f"upstream error: {exc}".encode(), "text/plain")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.server.count_chunked()
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        """De-chunk an HTTP chunked body (aws-chunked framing inside it is left as it is)."""
        pieces = []
        while True:
            size = int(self.rfile.readline(65537).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # HTTP trailers: dropped
                return b"".join(pieces)
            pieces.append(self.rfile.read(size))
            self.rfile.readline()

    def _forward(self, body: bytes, *, relay: bool = True) -> None:
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            dropped = {"if-none-match", "if-match"} if self.server.strip_conditional else set()
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP | dropped:
                    connection.putheader(name, value)  # Host too: as the client sent it
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body or None)
            response = connection.getresponse()
            if relay:
                self._relay(response)
            else:
                response.read()
        finally:
            connection.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        bodiless = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        rechunk = not bodiless and response.getheader("Content-Length") is None
        if rechunk:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while not bodiless:
            piece = response.read(PIECE)
            if rechunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            elif piece:
                self.wfile.write(piece)
            if not piece:
                break
        self.wfile.flush()

    def _reply(self, status: int, body: bytes, content_type: str, *, reason: str | None = None) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="URL of the S3 server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="fraction of requests answered 503")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault decisions")
    parser.add_argument("--lose-answer", help="the first PUT whose path contains this lands, but the client gets a 500")
    parser.add_argument("--strip-conditional", action="store_true", help="drop If-None-Match and If-Match headers")
    args = parser.parse_args(argv)
    server = FaultProxy(
        ("127.0.0.1", args.port),
        upstream=args.upstream,
        fault_rate=args.fault_rate,
        seed=args.seed,
        lose_answer=args.lose_answer,
        strip_conditional=args.strip_conditional,
    )
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
