"""The run lease with real processes: one holder, takeover of the dead and the expired, waiting."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jobs.errors import LeaseHeld
from jobs.state import RunLayout, read_lease, take_lease
from jobs.state.lease import clock_skew
from workers.io import LocalStorage

HOLD = textwrap.dedent("""
    import sys, time
    from jobs.state import RunLayout, take_lease
    from workers.io import LocalStorage
    lease = take_lease(LocalStorage(), RunLayout(output_uri=sys.argv[1], job="j", run_id="r"), ttl=float(sys.argv[2]))
    print(lease.attempt, flush=True)
    if sys.argv[3] == "release":
        lease.release()
    elif sys.argv[3] == "hold":
        time.sleep(float(sys.argv[4]))
        lease.release()
    # "crash": exit without releasing; the lease file still names this process
""")


def _holder(out: Path, *, ttl: float, how: str, seconds: float = 0) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), str(ttl), how, str(seconds)], stdout=subprocess.PIPE, text=True
    )


@pytest.fixture
def layout(tmp_path) -> RunLayout:
    return RunLayout(output_uri=str(tmp_path / "out"), job="j", run_id="r")


def test_a_live_holder_keeps_the_lease_and_is_named(layout, tmp_path):
    holder = _holder(tmp_path / "out", ttl=30, how="hold", seconds=30)
    try:
        assert holder.stdout.readline().strip() == "1"
        with pytest.raises(LeaseHeld) as caught:
            take_lease(LocalStorage(), layout, ttl=30)
        assert caught.value.exit_code == 3
        message = str(caught.value)
        assert f"pid {holder.pid}" in message and "attempt 1" in message and "--wait-lease" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_crashed_holder_on_this_host_is_taken_over_at_once(layout, tmp_path):
    holder = _holder(tmp_path / "out", ttl=600, how="crash")
    assert holder.stdout.readline().strip() == "1"
    holder.wait(timeout=30)
    lease, _ = read_lease(LocalStorage(), layout)
    assert lease.expires_at > time.time() + 500 and not lease.released  # not expired: the process is gone
    began = time.monotonic()
    ours = take_lease(LocalStorage(), layout, ttl=30)
    try:
        assert ours.attempt == 2 and time.monotonic() - began < 2
    finally:
        ours.release()


def test_an_expired_lease_is_taken_over_and_its_old_holder_finds_out(layout):
    storage = LocalStorage()
    first = take_lease(storage, layout, ttl=60)
    first._stop.set()  # a driver frozen before it could renew
    data = json.loads(Path(layout.lease).read_text())
    data["expires_at"] = time.time() - 1 - clock_skew()  # expired by more than the hosts' clocks may differ
    data["holder"]["host"] = "elsewhere"  # another host: only the expiry can free it
    Path(layout.lease).write_text(json.dumps(data))

    second = take_lease(storage, layout, ttl=60)
    try:
        assert second.attempt == 2
        with pytest.raises(LeaseHeld, match="lost the lease on run r to attempt 2"):
            first.check()
        second.check()  # the new holder is fine
    finally:
        second.release()
    first.release()  # a lost lease is left to its new holder
    assert read_lease(storage, layout)[0].attempt == 2


def test_another_hosts_lease_is_not_taken_within_the_tolerated_clock_skew(layout, monkeypatch):
    """The expiry is the holder's clock. A host whose clock runs up to PRESSROOM_CLOCK_SKEW_S ahead
    must not take a lease the holder still writes under: it waits out the skew first."""
    monkeypatch.setenv("PRESSROOM_CLOCK_SKEW_S", "10")
    storage = LocalStorage()
    first = take_lease(storage, layout, ttl=60)
    first._stop.set()
    data = json.loads(Path(layout.lease).read_text())
    data["holder"]["host"] = "elsewhere"
    data["expires_at"] = time.time() - 6  # by our clock; the holder's may be up to 10 s behind
    Path(layout.lease).write_text(json.dumps(data))
    with pytest.raises(LeaseHeld, match="held by another driver"):
        take_lease(storage, layout, ttl=60)
    data["expires_at"] = time.time() - 11  # past any clock the tolerance allows
    Path(layout.lease).write_text(json.dumps(data))
    second = take_lease(storage, layout, ttl=60)
    assert second.attempt == 2
    second.release()


def test_renewal_keeps_a_short_lease_alive(layout):
    storage = LocalStorage()
    lease = take_lease(storage, layout, ttl=0.9)
    try:
        first_expiry = read_lease(storage, layout)[0].expires_at
        time.sleep(2.0)  # more than two leases' worth of time
        lease.check()
        assert read_lease(storage, layout)[0].expires_at > first_expiry + 1.0
    finally:
        lease.release()
    released, _ = read_lease(storage, layout)
    assert released.released and released.attempt == 1


def test_waiting_gets_the_lease_when_its_holder_releases_it(layout, tmp_path):
    holder = _holder(tmp_path / "out", ttl=30, how="hold", seconds=2)
    try:
        assert holder.stdout.readline().strip() == "1"
        began = time.monotonic()
        ours = take_lease(LocalStorage(), layout, ttl=30, wait_seconds=60)
        assert ours.attempt == 2 and 0.5 < time.monotonic() - began < 30
        ours.release()
        with pytest.raises(LeaseHeld, match="held by another driver"):
            other = _holder(tmp_path / "out", ttl=30, how="hold", seconds=30)
            try:
                assert other.stdout.readline().strip() == "3"
                take_lease(LocalStorage(), layout, ttl=30, wait_seconds=0.5)  # gives up after half a second
            finally:
                other.kill()
                other.wait()
    finally:
        holder.wait(timeout=30)


def test_a_store_error_of_any_kind_does_not_stop_the_renewals(layout):
    """botocore raises errors that are no OSError (NoCredentialsError while credentials refresh):
    the renewing thread must outlive them and renew on its next turn."""

    class Hiccup(Exception):
        pass

    class FlakyOnce(LocalStorage):
        failed = False

        def write_bytes(self, uri, data, **kwargs):
            if uri == layout.lease and not FlakyOnce.failed and kwargs.get("if_match"):
                FlakyOnce.failed = True
                raise Hiccup("Unable to locate credentials")
            return super().write_bytes(uri, data, **kwargs)

    storage = FlakyOnce()
    lease = take_lease(storage, layout, ttl=0.9)
    try:
        first_expiry = read_lease(storage, layout)[0].expires_at
        time.sleep(2.0)
        assert FlakyOnce.failed and lease._renewer.is_alive()
        lease.check()
        assert read_lease(storage, layout)[0].expires_at > first_expiry + 1.0
    finally:
        lease.release()
