"""Find and reap every process a test started, by an environment tag its children inherit."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

TAG_VARIABLE = "PRESSROOM_TEST_TAG"


def new_tag() -> str:
    return uuid.uuid4().hex


def tagged_pids(tag: str) -> list[int]:
    """Live processes whose environment carries the tag (Ray's raylet, workers, engines too)."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def reap(tag: str, *, timeout: float = 30) -> list[int]:
    """SIGKILL every tagged process until none is left; returns those still alive (should be [])."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = tagged_pids(tag)
        if not pids:
            return []
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    return tagged_pids(tag)


def stop_head(head, tag: str, folder, *, grace: float = 20) -> None:
    """End a `ray start --head --block` a test started: SIGTERM, a grace period, then reap every
    process carrying its tag and remove its folder; fails if anything tagged survives."""
    import shutil
    import subprocess

    head.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        head.wait(timeout=grace)
    leftovers = reap(tag)
    # Nodes that Ray's fake autoscaler adds lose the tag from their environment (their agents
    # outlive them), but they still write their logs under the head's folder.
    for pid in holding_files_under(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(folder, ignore_errors=True)
    assert leftovers == [], [command_line(p) for p in leftovers]


def holding_files_under(folder) -> list[int]:
    """Live processes (not this one) with a file under `folder` open."""
    prefix = str(Path(folder).resolve()) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(target.startswith(prefix) for target in targets):
            found.append(int(entry.name))
    return found


def spawn_logged(args: list[str], log: Path, *, mode: str = "wb", **options) -> subprocess.Popen:
    """A process whose stdout and stderr go to `log` (the child keeps its own handle; ours closes)."""
    with open(log, mode) as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **options)
