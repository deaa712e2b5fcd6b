"""The webhook alone: a receiver that is down or trickling costs seconds, never the run, and the
URL's token never reaches a log; redirects are not followed; the signature covers a timestamp
and the body, as a receiver recomputes it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobs.notify import SIGNATURE_HEADER, TIMESTAMP_HEADER, post_event, signature
from schemas.spec import NotifySpec
from tests.webhook_receiver import webhook_receiver


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


@contextlib.contextmanager
def _trickler() -> Iterator[tuple[str, threading.Event]]:
    """A receiver that answers one byte every half second, forever (until the test ends)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    done = threading.Event()

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
                    if done.wait(0.5):
                        return
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook", done
    finally:
        done.set()
        server.close()
        thread.join(timeout=5)


def test_a_receiver_that_is_down_costs_seconds_and_no_secret_reaches_the_log(capsys):
    notify = NotifySpec(webhook=f"http://127.0.0.1:{_closed_port()}/hook?token=abc123")
    began = time.monotonic()
    assert post_event(notify, {"state": "succeeded", "run_id": "r"}) is False
    assert time.monotonic() - began < 20
    warning = capsys.readouterr().err
    assert "unreachable, the run is unaffected" in warning and "abc123" not in warning and "/hook" not in warning


def test_a_trickling_receiver_is_cut_at_the_overall_deadline(capsys):
    """Each byte comes within any per-read timeout: only an overall deadline ends the POST."""
    with _trickler() as (url, _):
        began = time.monotonic()
        assert post_event(NotifySpec(webhook=url), {"state": "succeeded", "run_id": "r"}, deadline_s=2.0) is False
        took = time.monotonic() - began
    assert 1.9 < took < 4.0, took
    assert "the run is unaffected" in capsys.readouterr().err


def test_redirects_are_not_followed(capsys):
    with webhook_receiver() as (elsewhere, received):

        class Redirect(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(307)
                self.send_header("Location", elsewhere)
                self.send_header("Content-Length", "0")
                self.end_headers()

        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}/hook"
            assert post_event(NotifySpec(webhook=url), {"state": "succeeded", "run_id": "r"}) is False
        finally:
            server.shutdown()
            server.server_close()
        assert received.attempts == 0  # the run's data never went where the redirect pointed
    assert "answered 307, the run is unaffected (redirects are not followed)" in capsys.readouterr().err


def test_only_the_configured_states_notify_and_the_body_is_signed_with_its_timestamp(monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k3y")
    with webhook_receiver() as (url, received):
        notify = NotifySpec(webhook=url, on=["failed"], secret_env="HOOK_KEY")
        assert post_event(notify, {"state": "succeeded", "run_id": "r1"}) is False  # not asked for
        before = int(time.time())
        assert post_event(notify, {"state": "failed", "run_id": "r2", "reason": "engine"}) is True
    [(headers, body)] = received.accepted
    assert json.loads(body) == {"state": "failed", "run_id": "r2", "reason": "engine"}
    stamp = headers[TIMESTAMP_HEADER]
    assert before <= int(stamp) <= int(time.time())
    assert headers[SIGNATURE_HEADER] == signature("k3y", body, timestamp=stamp)
    signed = stamp.encode() + b"." + body  # what a receiver recomputes, by hand
    assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(b"k3y", signed, hashlib.sha256).hexdigest()
    # A replayed body under another timestamp does not verify.
    assert headers[SIGNATURE_HEADER] != signature("k3y", body, timestamp=str(int(stamp) - 600))
