"""The run-end webhook: one JSON POST, retried with backoff, signed with HMAC-SHA256.

A receiver that is down, slow or trickling bytes costs at most `DEADLINE_S` in all (one overall
deadline over every try, enforced by closing the socket, not per socket read) and never fails the
run. Redirects are not followed: the spec names the one URL that receives run data. The secret
comes from the environment variable the spec names; it is never written anywhere, only used to
sign. The signature covers a timestamp and the body, so a receiver can reject replays:

    signed = X-Pressroom-Timestamp + "." + raw body
    X-Pressroom-Signature = "sha256=" + hex HMAC-SHA256(secret, signed)

A receiver recomputes it, rejects a timestamp more than five minutes from its own clock, and
remembers the event `id`s it accepted in that window (a retried POST repeats the same `id`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlparse

from schemas.manifest import Manifest
from schemas.spec import NotifySpec
from schemas.state import RunState

SIGNATURE_HEADER = "X-Pressroom-Signature"
TIMESTAMP_HEADER = "X-Pressroom-Timestamp"
DEADLINE_S = 15.0  # every try together, connect to last byte
TRIES = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def signature(secret: str, body: bytes, *, timestamp: str) -> str:
    """The header value a receiver recomputes: 'sha256=' + hex HMAC-SHA256 of 'timestamp.body'."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def run_event(state: RunState, *, manifest: Manifest | None, manifest_uri: str | None) -> dict:
    """What the webhook says about a run's end."""
    at = state.history[-1].at if state.history else None
    return {
        "event": "run.ended",
        "id": _event_id(state.job, state.run_id, str(state.state), at),
        "job": state.job,
        "run_id": state.run_id,
        "state": str(state.state),
        "reason": str(state.reason) if state.reason else None,
        "message": state.message,
        "attempt": state.attempt,
        "totals": manifest.totals.model_dump() if manifest else None,
        "manifest_uri": manifest_uri if manifest else None,
        "rejected_because": manifest.rejected_because if manifest else [],
        "at": at,
    }


def _event_id(*parts: str | None) -> str:
    """The same for every delivery of one event: receivers drop repeats by it."""
    return hashlib.sha256("\x00".join(p or "" for p in parts).encode()).hexdigest()[:32]


def post_event(notify: NotifySpec, event: dict, *, deadline_s: float = DEADLINE_S) -> bool:
    """POST the event if its state is one the spec notifies on; True if the receiver took it."""
    if event["state"] not in notify.on:
        return False
    body = json.dumps(event, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": "pressroom", TIMESTAMP_HEADER: timestamp}
    secret = os.environ.get(notify.secret_env) if notify.secret_env else None
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body, timestamp=timestamp)
    where = _host(notify.webhook)  # never the path or query: they may carry a token
    deadline = time.monotonic() + deadline_s
    problem, detail = "unreachable", ""
    for attempt in range(TRIES):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            status = _post_once(notify.webhook, body=body, headers=headers, seconds=left)
        except (OSError, http.client.HTTPException) as exc:
            problem, detail = "unreachable", f": {type(exc).__name__}"
        else:
            if 200 <= status < 300:
                return True
            problem = f"answered {status}"
            detail = " (redirects are not followed)" if 300 <= status < 400 else ""
            if status not in RETRY_STATUSES:
                break
        time.sleep(min(3.0, 0.3 * 2**attempt, max(0.0, deadline - time.monotonic())))
    print(f"warning: webhook at {where} {problem}, the run is unaffected{detail}", file=sys.stderr)
    return False


def _post_once(url: str, *, body: bytes, headers: dict[str, str], seconds: float) -> int:
    """One POST, abandoned when `seconds` run out (a watchdog shuts the socket: a receiver that
    trickles bytes cannot hold the caller past it). Returns the status; the body is drained."""
    parsed = urlparse(url)
    kind = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    connection = kind(parsed.hostname, parsed.port, timeout=seconds)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(seconds, cut)
    watchdog.start()
    try:
        path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if expired.is_set():
            raise TimeoutError("the receiver did not answer within the webhook's deadline")
        return response.status
    except OSError:
        if expired.is_set():
            raise TimeoutError("the receiver did not answer within the webhook's deadline") from None
        raise
    finally:
        watchdog.cancel()
        connection.close()


def _host(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
