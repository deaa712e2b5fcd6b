"""Retries of state writes: jittered backoff, and only failures that can pass on a retry."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from jobs.state.retry import backoff_delays, with_retries
from workers.io import AlreadyExists, ConditionFailed, is_transient


def _client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def test_transient_failures_are_retried_then_raised(monkeypatch):
    monkeypatch.setattr("jobs.state.retry.time.sleep", lambda seconds: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")
        return "done"

    assert with_retries(flaky) == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(ConnectionResetError):
        with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(ConnectionResetError()), attempts=4)
    assert len(calls) == 4


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bug"),
        AlreadyExists("s3://b/k"),
        ConditionFailed("s3://b/k"),
        FileNotFoundError("gone"),
        _client_error(403, "AccessDenied"),
    ],
)
def test_other_failures_raise_at_once(error):
    calls = []

    def failing():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retries(failing)
    assert calls == [1]


def test_what_counts_as_transient():
    assert is_transient(_client_error(503, "SlowDown")) and is_transient(_client_error(500, "InternalError"))
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert is_transient(TimeoutError()) and not is_transient(_client_error(404, "NoSuchKey"))
    assert not is_transient(PermissionError()) and not is_transient(_client_error(412, "PreconditionFailed"))


def test_backoff_is_jittered_and_capped():
    delays = backoff_delays(base=0.5, cap=2.0)
    samples = [next(delays) for _ in range(40)]
    assert all(0 <= d <= 2.0 for d in samples) and samples[0] <= 0.5
    assert len({round(d, 6) for d in samples}) > 30  # spread out, not a fixed schedule
