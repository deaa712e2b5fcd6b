"""SIGTERM cancels a run: `pressroom cancel` and Ray's `stop_job` both send it to the driver.

The handler raises RunCancelled in the main thread, so the attempt records `cancelled` and
releases its lease before the process ends. `ray.init()` installs a SIGTERM handler of its own:
`reinstall` puts ours back after it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from jobs.errors import JobError


class RunCancelled(JobError):
    """The driver was asked to stop (SIGTERM)."""


def _cancel(signum, frame) -> None:
    raise RunCancelled("cancelled: the driver received SIGTERM")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def reinstall() -> None:
    """Make SIGTERM cancel the run again (after a library replaced the handler)."""
    if _in_main_thread():
        signal.signal(signal.SIGTERM, _cancel)


@contextlib.contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """While the block runs, SIGTERM raises RunCancelled; the previous handler comes back after."""
    if not _in_main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
