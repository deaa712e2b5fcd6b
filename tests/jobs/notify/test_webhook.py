"""The webhook alone: a receiver that is down costs seconds, never the run, and the URL's token
never reaches a log; the signature is what a receiver recomputes."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

from jobs.notify import SIGNATURE_HEADER, post_event, signature
from schemas.spec import NotifySpec
from tests.webhook_receiver import webhook_receiver


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_a_receiver_that_is_down_costs_seconds_and_no_secret_reaches_the_log(capsys):
    notify = NotifySpec(webhook=f"http://127.0.0.1:{_closed_port()}/hook?token=abc123")
    began = time.monotonic()
    assert post_event(notify, {"state": "succeeded", "run_id": "r"}) is False
    assert time.monotonic() - began < 20
    warning = capsys.readouterr().err
    assert "unreachable, the run is unaffected" in warning and "abc123" not in warning and "/hook" not in warning


def test_only_the_configured_states_notify_and_the_body_is_signed(monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k3y")
    with webhook_receiver() as (url, received):
        notify = NotifySpec(webhook=url, on=["failed"], secret_env="HOOK_KEY")
        assert post_event(notify, {"state": "succeeded", "run_id": "r1"}) is False  # not asked for
        assert post_event(notify, {"state": "failed", "run_id": "r2", "reason": "engine"}) is True
    [(headers, body)] = received.accepted
    assert json.loads(body) == {"state": "failed", "run_id": "r2", "reason": "engine"}
    assert headers[SIGNATURE_HEADER] == signature("k3y", body)
    assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
