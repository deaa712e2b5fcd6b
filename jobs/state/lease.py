"""The run lease: one live driver generates a run at a time.

`_lease.json` names the holder (host, boot id, pid and the process's start time), the attempt
it is generating and an expiry. A driver takes it with If-None-Match (the run's first attempt)
or with If-Match on the version it read (a later attempt), renews it with If-Match, and releases
it when it stops. Another driver may take it over once it expired or was released, or at once
when the holder ran on the same host and that process is gone (a crash seconds ago). Each
acquisition is the next attempt: data files are named by it, so attempts never share a name.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from jobs.errors import HeldElsewhere, LeaseHeld
from jobs.retry import conflicts, swap, waiting
from jobs.state.paths import RunLayout
from jobs.state.read import check_identity, parse_record
from schemas.state import Lease, LeaseHolder
from workers.io import ConditionFailed, Storage

DEFAULT_TTL_S = 60.0
RACES = 20  # drivers taking one lease at the same moment: each loser looks again
TTL_ENV = "PRESSROOM_LEASE_SECONDS"  # shorter leases in tests; renewed every third of it
DEFAULT_SKEW_S = 10.0
SKEW_ENV = "PRESSROOM_CLOCK_SKEW_S"  # how far apart the hosts' clocks may be (NTP keeps them far closer)


def lease_ttl() -> float:
    """Seconds a lease lasts without renewal: `$PRESSROOM_LEASE_SECONDS`, else 60."""
    return float(os.environ.get(TTL_ENV) or DEFAULT_TTL_S)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie has finished


def this_process() -> LeaseHolder:
    """This driver, as a lease names it."""
    pid = os.getpid()
    return LeaseHolder(host=socket.gethostname(), boot_id=_boot_id(), pid=pid, started=_process_start(pid) or "")


def holder_running_here(holder: LeaseHolder) -> bool:
    """True only when the holder is a process of this host's current boot that still runs with the
    start time the lease recorded: the one process a signal may go to (never pid 0 or 1, never a
    pid reused since, never another host's)."""
    if holder.pid <= 1 or holder.host != socket.gethostname() or not holder.boot_id or holder.boot_id != _boot_id():
        return False
    return bool(holder.started) and _process_start(holder.pid) == holder.started


def holder_gone(holder: LeaseHolder) -> bool:
    """True only when the holder ran on this host (same boot) and that process no longer runs."""
    if holder.host != socket.gethostname() or not holder.boot_id or holder.boot_id != _boot_id():
        return False
    return _process_start(holder.pid) != holder.started


def describe(lease: Lease) -> str:
    """'attempt 2 (host h, pid 41, lease expires in 12 s)'."""
    left = lease.expires_at - time.time()
    until = f"expires in {left:.0f} s" if left > 0 else f"expired {-left:.0f} s ago"
    return f"attempt {lease.attempt} (host {lease.holder.host}, pid {lease.holder.pid}, lease {until})"


def read_lease(storage: Storage, layout: RunLayout) -> tuple[Lease, str] | None:
    """The run's lease and its version, or None if no driver ever took one."""
    try:
        data, version = storage.read_versioned(layout.lease)
    except FileNotFoundError:
        return None
    lease = parse_record(Lease, data, uri=layout.lease)
    check_identity(lease, uri=layout.lease, job=layout.job, run_id=layout.run_id)
    return lease, version


def clock_skew() -> float:
    """Seconds hosts' clocks may differ: `$PRESSROOM_CLOCK_SKEW_S`, else 10."""
    return float(os.environ.get(SKEW_ENV) or DEFAULT_SKEW_S)


def is_live(lease: Lease) -> bool:
    """Whether the lease still protects its holder's work (not released, not expired, not orphaned).

    The expiry is the holder's clock; the holder stops writing once its own clock passes it. A
    reader on another host waits `clock_skew()` longer before it calls the lease expired, so a
    takeover is safe while the two clocks differ by less than that."""
    if lease.released or holder_gone(lease.holder):
        return False
    margin = 0.0 if lease.holder.host == socket.gethostname() else clock_skew()
    return lease.expires_at + margin > time.time()


class RunLease:
    """A lease this driver holds: renewed in the background, checked before every write."""

    def __init__(self, storage: Storage, layout: RunLayout, lease: Lease, version: str, *, ttl: float):
        self._storage = storage
        self._layout = layout
        self._lease = lease
        self._version = version
        self._ttl = ttl
        self._lock = threading.Lock()
        self._lost: str | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_loop, name="pressroom-lease", daemon=True)
        self._renewer.start()

    @property
    def attempt(self) -> int:
        return self._lease.attempt

    def check(self) -> None:
        """Raise LeaseHeld unless this driver still holds the lease (one read of `_lease.json`)."""
        with self._lock:
            if self._lost is None:
                current = read_lease(self._storage, self._layout)
                if current is None or current[1] != self._version:
                    taker = f" to {describe(current[0])}" if current else ""
                    self._lost = f"lost the lease on run {self._layout.run_id}{taker}"
                elif time.time() > self._lease.expires_at:
                    self._lost = f"the lease on run {self._layout.run_id} expired before it could be renewed"
            if self._lost is not None:
                raise LeaseHeld(f"{self._lost}: this driver stalled; it writes nothing more")

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._ttl / 3):
            with self._lock:
                if self._lost is not None:
                    return
                renewed = self._lease.model_copy(update={"expires_at": time.time() + self._ttl})
                try:
                    self._version = self._storage.write_bytes(
                        self._layout.lease, renewed.model_dump_json(indent=2).encode(), if_match=self._version
                    )
                    self._lease = renewed
                except ConditionFailed:
                    self._lost = f"lost the lease on run {self._layout.run_id} to another driver"
                    return
                except Exception:  # any store error (OSError, botocore's own): this loop must not die
                    continue  # try again next time; the expiry still guards us (check() reads it)

    def release(self) -> None:
        """Stop renewing and mark the lease released, unless another driver holds it now."""
        self._stop.set()
        self._renewer.join()
        with self._lock:
            if self._lost is not None:
                return
            done = self._lease.model_copy(update={"released": True, "expires_at": time.time()})
            # Taken over, or the store failed: the expiry releases it all the same.
            with contextlib.suppress(Exception):  # any store error (botocore's are no OSError)
                self._storage.write_bytes(
                    self._layout.lease, done.model_dump_json(indent=2).encode(), if_match=self._version
                )


def take_lease(storage: Storage, layout: RunLayout, *, ttl: float, wait_seconds: float | None = None) -> RunLease:
    """Take the run's lease as the next attempt. Raises HeldElsewhere naming the holder if another
    live driver holds it, after waiting up to `wait_seconds` for it to become free."""
    hint = "" if wait_seconds is not None else "; wait for it with --wait-lease"
    for try_ in waiting(HeldElsewhere, seconds=wait_seconds or 0.0):
        with try_:
            return _take(storage, layout, ttl=ttl, hint=hint)
    raise AssertionError("unreachable")


def _take(storage: Storage, layout: RunLayout, *, ttl: float, hint: str) -> RunLease:
    """One look at the lease: take it if it is free (another driver moving first: look again)."""
    for try_ in conflicts(RACES):
        with try_:
            current = read_lease(storage, layout)
            if current is not None and is_live(current[0]):
                raise HeldElsewhere(
                    f"run {layout.run_id} of job {layout.job} is held by another driver: {describe(current[0])}{hint}"
                )
            lease = Lease(
                job=layout.job,
                run_id=layout.run_id,
                attempt=current[0].attempt + 1 if current else 1,
                token=uuid.uuid4().hex,
                holder=this_process(),
                acquired_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                expires_at=time.time() + ttl,
            )
            data = lease.model_dump_json(indent=2).encode()
            version = swap(storage, layout.lease, data, version=current[1] if current else None)
            return RunLease(storage, layout, lease, version, ttl=ttl)
    raise AssertionError("unreachable")
