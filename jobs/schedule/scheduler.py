"""The scheduler: re-reads a directory of specs and submits each due cron slot exactly once.

Every tick, for each spec with a `schedule`, it finds the slots due (`catchup: latest`: the
newest slot at or before now; `none`: only slots that came due since the previous tick), claims
each in object storage with a conditional write, and only then submits it. Any number of
schedulers can run: the claim that lands is the one submission. A slot due while the job's
previous run is still active is claimed as skipped (`overlap: skip`) or submitted behind it
(`queue`). The clock is injected, so tests never wait for a real minute.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs import state
from jobs.errors import PressroomError
from jobs.notify import deliver_pending
from jobs.schedule.slots import latest_slot, slot_name, slots_between
from schemas.spec import JobSpec
from schemas.state import RunStateName, SlotClaim

ACTIVE = {RunStateName.QUEUED, RunStateName.RUNNING, RunStateName.COMMITTING}


def utc_now() -> datetime:
    return datetime.now(UTC)


def who() -> str:
    return f"scheduler {socket.gethostname()}:{os.getpid()}"


def active_run(spec: JobSpec) -> str | None:
    """A run of the job still queued, running or committing (a dead driver's run is found lost)."""
    from jobs.catalog import list_runs

    for run in list_runs(spec.output.uri, spec.name):
        if run.state in ACTIVE:
            return run.run_id
    return None


# A claim this old with no run state behind it was never submitted (its scheduler died between the
# two writes); a submission writes the run's queued state within seconds of its claim.
RETRY_AFTER = timedelta(seconds=60)


class Scheduler:
    """Ticks over a specs directory; `submit(spec, slot, run_id)` hands a claimed slot to a cluster."""

    def __init__(
        self,
        specs_dir: Path,
        *,
        submit: Callable[[Path, JobSpec, str], None],
        clock: Callable[[], datetime] = utc_now,
        log: Callable[[str], None] = print,
        dry_run: bool = False,
    ):
        self._specs_dir = specs_dir
        self._submit = submit
        self._dry_run = dry_run  # claims and logs only: its own claims are never "never submitted"
        self._clock = clock
        self._log = log
        self._last_tick: datetime | None = None

    def tick(self) -> list[SlotClaim]:
        """One pass over the specs; the claims this scheduler won."""
        from jobs.spec import load_spec

        now = self._clock()
        since = self._last_tick or now
        self._log(f"{now.isoformat()} tick")
        won = []
        for path in sorted(self._specs_dir.glob("*.y*ml")):
            try:
                spec = load_spec(path)
            except PressroomError as exc:
                self._log(f"{now.isoformat()} {path.name}: skipped, the spec is invalid: {exc}")
                continue
            if spec.schedule is None:
                continue
            won += self._job(path, spec, now=now, since=since)
        self._last_tick = now
        return won

    def _job(self, path: Path, spec: JobSpec, *, now: datetime, since: datetime) -> list[SlotClaim]:
        schedule = spec.schedule
        job = state.JobLayout(output_uri=spec.output.uri, job=spec.name)
        storage = _storage(spec)
        for run_id in deliver_pending(spec, storage):
            self._log(f"{now.isoformat()} {spec.name} run {run_id}: told its end (recorded without a spec)")
        if schedule.catchup == "latest":
            due = [latest_slot(schedule.cron, schedule.timezone, now)]
        else:
            due = slots_between(schedule.cron, schedule.timezone, since, now)
        won = []
        for slot in due:
            name = slot_name(slot)
            claimed = state.read_claim(storage, job, name)
            paused = schedule.paused or state.is_paused(storage, job)
            if claimed is not None:  # decided already, by us or another scheduler
                if not paused and not self._dry_run and _never_submitted(storage, job, claimed, now=now):
                    self._retry(path, spec, claimed, now=now)
                continue
            if paused:
                self._log(f"{now.isoformat()} {spec.name} slot {name}: not submitted, the schedule is paused")
                continue
            claim = self._decide(path, spec, name=name, now=now)
            if claim is not None:
                won.append(claim)
        return won

    def _retry(self, path: Path, spec: JobSpec, claim: SlotClaim, *, now: datetime) -> None:
        """Submit a slot whose claim landed but whose submission never happened (a crash between
        the two): the claim says what the night is, and the run's lease keeps it to one driver."""
        try:
            self._submit(path, spec, claim.run_id)
            self._log(
                f"{now.isoformat()} {spec.name} slot {claim.slot}: claimed by {claim.claimed_by} but never "
                f"submitted; submitted run {claim.run_id}"
            )
        except PressroomError as exc:
            self._log(f"{now.isoformat()} {spec.name} slot {claim.slot}: submitting run {claim.run_id} failed: {exc}")

    def _decide(self, path: Path, spec: JobSpec, *, name: str, now: datetime) -> SlotClaim | None:
        job = state.JobLayout(output_uri=spec.output.uri, job=spec.name)
        busy = active_run(spec) if spec.schedule.overlap == "skip" else None
        claim = SlotClaim(
            job=spec.name,
            slot=name,
            decision="skipped" if busy else "submitted",
            reason=f"run {busy} is still active (overlap: skip)" if busy else None,
            run_id=None if busy else name,
            claimed_by=who(),
            claimed_at=now.isoformat(),
        )
        took, standing = state.claim_slot(_storage(spec), job, claim)
        if not took:
            self._log(f"{now.isoformat()} {spec.name} slot {name}: claimed by {standing.claimed_by}")
            return None
        if busy:
            self._log(f"{now.isoformat()} {spec.name} slot {name}: skipped, {claim.reason}")
            return claim
        try:
            self._submit(path, spec, name)
            self._log(f"{now.isoformat()} {spec.name} slot {name}: submitted run {name}")
        except PressroomError as exc:  # the claim stands: the run's own state says what happened
            self._log(f"{now.isoformat()} {spec.name} slot {name}: submitting run {name} failed: {exc}")
        return claim

    def run(self, stop: threading.Event, *, poll_s: float) -> None:
        """Tick until `stop` is set (SIGTERM sets it)."""
        while not stop.is_set():
            self.tick()
            stop.wait(poll_s)
        self._log(f"{self._clock().isoformat()} stopped")


def _never_submitted(storage, job: state.JobLayout, claim: SlotClaim, *, now: datetime) -> bool:
    """A claim to submit, older than RETRY_AFTER, whose run has no state and no manifest: nothing
    ever took it further. A younger one may be a submission in flight (the claim lands first, the
    run's queued state a moment later): left to its scheduler."""
    if claim.decision != "submitted" or claim.run_id is None:
        return False
    if now - datetime.fromisoformat(claim.claimed_at) < RETRY_AFTER:
        return False
    run = job.run(claim.run_id)
    return state.read_state(storage, run) is None and state.read_manifest(storage, run) is None


def _storage(spec: JobSpec):
    from workers.io import storage_for

    return storage_for(spec.output.uri)
