"""Retries of state writes: jittered backoff, and only failures that can pass on a retry."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from jobs.retry import JITTER, conflicts, with_retries
from workers.io import AlreadyExists, ConditionFailed, is_transient


def _client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr("tenacity.nap.time.sleep", lambda seconds: None)


def test_transient_failures_are_retried_then_raised():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionResetError("reset by peer")
        return "done"

    assert with_retries(flaky) == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(ConnectionResetError):
        with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(ConnectionResetError()), tries=4)
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


def test_a_lost_compare_and_swap_reads_again_until_it_wins_or_gives_up():
    reads = []
    for attempt in conflicts(5):
        with attempt:
            reads.append(1)
            if len(reads) < 3:
                raise ConditionFailed("s3://b/latest")  # another writer moved it between our read and write
    assert len(reads) == 3
    reads.clear()
    with pytest.raises(ConditionFailed):
        for attempt in conflicts(4):
            with attempt:
                reads.append(1)
                raise ConditionFailed("s3://b/latest")
    assert len(reads) == 4


def test_backoff_is_jittered_and_capped():
    from tenacity import RetryCallState

    samples = []
    for number in range(1, 41):
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
        state.attempt_number = number
        samples.append(JITTER(state))
    assert all(0 <= d <= 5.0 for d in samples) and samples[0] <= 0.1  # 0..min(5, 0.1 x 2^(n-1))
    assert len({round(d, 6) for d in samples}) > 30  # spread out, not a fixed schedule
