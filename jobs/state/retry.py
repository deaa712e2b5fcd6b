"""Retries for state writes: exponential backoff with full jitter, only for transient failures."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from workers.io import is_transient

T = TypeVar("T")


def backoff_delays(*, base: float = 0.1, cap: float = 5.0) -> Iterator[float]:
    """Sleeps of 0..min(cap, base * 2**n) seconds ("full jitter"): racing writers spread out."""
    step = 0
    while True:
        yield random.uniform(0, min(cap, base * 2**step))
        step += 1


def with_retries(
    action: Callable[[], T], *, attempts: int = 5, also: Callable[[BaseException], bool] | None = None
) -> T:
    """Call `action`, retrying transient storage failures (and those `also` accepts) with jittered
    backoff; any other error raises at once."""
    delays = backoff_delays()
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not (is_transient(exc) or (also is not None and also(exc))):
                raise
        time.sleep(next(delays))
    raise AssertionError("unreachable")
