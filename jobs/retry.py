"""Retries: one policy per kind of failure, stated once, with tenacity (run state, publishing and
the job server use these and no loop of their own).

The S3 clients already retry every call (botocore and pyarrow, AWS standard mode, 10 attempts:
throttling, 5xx, lost connections). pressroom's own retries sit on top, knowingly:

- `transient`: a state read or write whose failure outlived the client's retries (or a local one,
  which has none) and that may pass on a retry (`workers.io.is_transient`): up to 5 tries.
- `conflicts`: a compare-and-swap that lost a race (ConditionFailed): read again and try again.
- `waiting`: polling for something another process holds (a run's lease) until a deadline.

All wait with full jitter, 0..min(cap, base x 2^n) seconds, so racing writers spread out. Nothing
else is retried: a refused If-None-Match on a name that must be new, a missing object or a
permission error raises at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from workers.io import ConditionFailed, Storage, is_transient

T = TypeVar("T")
TRANSIENT_TRIES = 5
JITTER = wait_random_exponential(multiplier=0.1, max=5.0)


def transient(*, tries: int = TRANSIENT_TRIES, also: Callable[[BaseException], bool] | None = None) -> Retrying:
    """Retrying transient storage failures (and those `also` accepts); anything else raises at once."""
    return Retrying(
        retry=retry_if_exception(lambda exc: is_transient(exc) or (also is not None and also(exc))),
        wait=JITTER,
        stop=stop_after_attempt(tries),
        reraise=True,
    )


def with_retries(
    action: Callable[[], T], *, tries: int = TRANSIENT_TRIES, also: Callable[[BaseException], bool] | None = None
) -> T:
    """`action()` under the transient policy."""
    return transient(tries=tries, also=also)(action)


def conflicts(tries: int) -> Retrying:
    """Retrying a compare-and-swap that lost a race: each try reads again (use as
    `for attempt in conflicts(n): with attempt: ...`); the last ConditionFailed is raised."""
    return Retrying(
        retry=retry_if_exception_type(ConditionFailed), wait=JITTER, stop=stop_after_attempt(tries), reraise=True
    )


def waiting(kind: type[BaseException], *, seconds: float) -> Retrying:
    """Retrying while `kind` is raised (something is held elsewhere), for at most `seconds`."""
    return Retrying(
        retry=retry_if_exception_type(kind),
        wait=wait_random_exponential(multiplier=0.2, max=2.0),
        stop=stop_after_delay(seconds),
        reraise=True,
    )


def swap(storage: Storage, uri: str, data: bytes, *, version: str | None) -> str:
    """The write of a compare-and-swap: over the version just read (If-Match), or as a new object
    (If-None-Match) when there was none. Transient failures are retried; a lost race raises
    ConditionFailed for the caller's `conflicts` loop to read again."""
    if version is None:
        return with_retries(partial(storage.write_bytes, uri, data, if_none_match=True))
    return with_retries(partial(storage.write_bytes, uri, data, if_match=version))
