"""The run-end webhook: one JSON POST, retried with backoff by urllib3, signed with HMAC-SHA256.

A receiver that is down costs at most a few seconds (bounded retries, short timeouts) and
never fails the run. The secret comes from the environment variable the spec names; it is
never written anywhere, only used to sign.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from urllib.parse import urlparse

from schemas.manifest import Manifest
from schemas.spec import NotifySpec
from schemas.state import RunState

SIGNATURE_HEADER = "X-Pressroom-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value a receiver recomputes: 'sha256=' + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def run_event(state: RunState, *, manifest: Manifest | None, manifest_uri: str | None) -> dict:
    """What the webhook says about a run's end."""
    return {
        "event": "run.ended", "job": state.job, "run_id": state.run_id, "state": str(state.state),
        "reason": str(state.reason) if state.reason else None, "message": state.message, "attempt": state.attempt,
        "totals": manifest.totals.model_dump() if manifest else None,
        "manifest_uri": manifest_uri if manifest else None,
        "rejected_because": manifest.rejected_because if manifest else [],
        "at": state.history[-1].at if state.history else None,
    }


def post_event(notify: NotifySpec, event: dict) -> bool:
    """POST the event if its state is one the spec notifies on; True if the receiver took it."""
    import urllib3
    from urllib3.util import Retry

    if event["state"] not in notify.on:
        return False
    body = json.dumps(event, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "pressroom"}
    secret = os.environ.get(notify.secret_env) if notify.secret_env else None
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    retries = Retry(total=5, backoff_factor=0.3, backoff_max=3.0, status_forcelist=(429, 500, 502, 503, 504),
                    allowed_methods=frozenset({"POST"}), raise_on_status=False)
    pool = urllib3.PoolManager(retries=retries, timeout=urllib3.Timeout(connect=2.0, read=5.0))
    where = _host(notify.webhook)  # never the path or query: they may carry a token
    try:
        response = pool.request("POST", notify.webhook, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as exc:
        print(f"warning: webhook at {where} unreachable, the run is unaffected: {type(exc).__name__}",
              file=sys.stderr)
        return False
    if not 200 <= response.status < 300:
        print(f"warning: webhook at {where} answered {response.status}, the run is unaffected", file=sys.stderr)
        return False
    return True


def _host(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
