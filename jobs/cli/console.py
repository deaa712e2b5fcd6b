"""Where our own output goes while Ray's and vLLM's native output (fd 1 and 2) is diverted."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from workers.home import pressroom_home


@dataclass(frozen=True)
class Console:
    """Where our own output goes while libraries' output (fd 1 and 2) may be diverted."""

    out: TextIO
    err: TextIO
    log_path: str | None


@contextlib.contextmanager
def diverted_console(*, json_mode: bool, verbose: bool) -> Iterator[Console]:
    """Divert fds 1 and 2 (Ray's and vLLM's native and Python output) away from our own streams.

    With --json, fd 1 carries only our one JSON object. Without -v, library output goes to a
    log file whose path is named if the job fails.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_path = None
    if not verbose:
        log_dir = pressroom_home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        handle, log_path = tempfile.mkstemp(dir=log_dir, prefix="run-", suffix=".log")
        os.dup2(handle, 2)
        os.close(handle)
    if json_mode or not verbose:
        os.dup2(2, 1)
    console = Console(out=os.fdopen(saved_out, "w"), err=os.fdopen(saved_err, "w"), log_path=log_path)
    previous = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = console.err if json_mode else console.out, console.err
    try:
        yield console
    finally:
        for stream in (sys.stdout, sys.stderr, *previous):
            stream.flush()
        sys.stdout, sys.stderr = previous
        os.dup2(console.out.fileno(), 1)
        os.dup2(console.err.fileno(), 2)
        console.out.close()
        console.err.close()
