"""Schedules on a test clock: catch-up, DST nights in Europe/Berlin, overlap, pause and trigger, and
two scheduler processes racing for every slot of one output root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.schedule import Scheduler
from jobs.state import JobLayout, read_claims, take_lease
from schemas.manifest import Shard
from schemas.tally import TallyColumns
from tests.builders import write_job
from tests.processes import spawn_logged
from workers.io import LocalStorage

REPO = Path(__file__).resolve().parents[3]
UTC = UTC


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _specs(tmp_path: Path, **schedule) -> tuple[Path, Path]:
    spec = write_job(tmp_path / "job", rows=4, schedule={"cron": "0 2 * * *", **schedule})
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "job.yaml").write_text(
        spec.read_text()
        .replace("data/", str(spec.parent / "data") + "/")
        .replace("./model", str(spec.parent / "model"))
        .replace("uri: out", f"uri: {spec.parent / 'out'}")
    )
    return specs, spec.parent / "out"


def _scheduler(specs: Path, clock: Clock, submitted: list, log: list | None = None) -> Scheduler:
    def submit(path, spec, run_id: str) -> None:  # records the run queued, as submit_run does; it ends at once
        from jobs.state import record_state
        from schemas.state import RunStateName

        layout = JobLayout(output_uri=spec.output.uri, job=spec.name).run(run_id)
        record_state(LocalStorage(), layout, RunStateName.QUEUED, submission_id=f"fake-{run_id}")
        record_state(LocalStorage(), layout, RunStateName.SUCCEEDED)
        submitted.append(run_id)

    return Scheduler(specs, submit=submit, clock=clock, log=(log.append if log is not None else lambda line: None))


def _claims(out: Path) -> list[tuple[str, str]]:
    return [
        (c.slot, c.decision) for c in read_claims(LocalStorage(), JobLayout(output_uri=str(out), job="tiny-summaries"))
    ]


def test_catchup_latest_submits_only_the_newest_missed_slot(tmp_path):
    specs, out = _specs(tmp_path)
    submitted: list[str] = []
    clock = Clock(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    _scheduler(specs, clock, submitted).tick()
    clock.now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)  # down for three nights
    restarted = _scheduler(specs, clock, submitted)
    restarted.tick()
    restarted.tick()  # the same slot again: already claimed
    assert submitted == ["20261201T020000Z", "20261204T020000Z"]
    assert _claims(out) == [("20261201T020000Z", "submitted"), ("20261204T020000Z", "submitted")]


def test_catchup_none_skips_missed_slots_and_takes_the_next_one(tmp_path):
    specs, out = _specs(tmp_path, catchup="none")
    submitted: list[str] = []
    clock = Clock(datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
    scheduler = _scheduler(specs, clock, submitted)
    scheduler.tick()  # started long after the 4th's slot: missed, not submitted
    clock.now = datetime(2026, 12, 5, 2, 0, 30, tzinfo=UTC)
    scheduler.tick()
    assert submitted == ["20261205T020000Z"] and _claims(out) == [("20261205T020000Z", "submitted")]


@pytest.mark.parametrize(
    ("night", "expected"),
    [
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), ["20261025T003000Z"]),  # 02:30 happens twice: once
        (datetime(2026, 3, 28, 22, 0, tzinfo=UTC), ["20260329T010000Z"]),  # 02:30 never happens: at 03:00
    ],
)
def test_berlin_dst_nights_submit_the_slot_once(tmp_path, night, expected):
    specs, _ = _specs(tmp_path, cron="30 2 * * *", timezone="Europe/Berlin", catchup="none")
    submitted: list[str] = []
    clock = Clock(night)
    scheduler = _scheduler(specs, clock, submitted)
    for _ in range(40):  # every 10 minutes through the night
        scheduler.tick()
        clock.now += timedelta(minutes=10)
    assert submitted == expected


def test_overlap_skip_records_the_skip_and_queue_submits_behind(tmp_path):
    specs, out = _specs(tmp_path)
    storage = LocalStorage()
    running = JobLayout(output_uri=str(out), job="tiny-summaries").run("20261130T020000Z")
    from jobs.state import record_state
    from schemas.state import RunStateName

    lease = take_lease(storage, running, ttl=600)
    record_state(storage, running, RunStateName.RUNNING, attempt=lease.attempt)
    try:
        submitted: list[str] = []
        _scheduler(specs, Clock(datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC)), submitted).tick()
        claims = read_claims(storage, JobLayout(output_uri=str(out), job="tiny-summaries"))
        assert submitted == [] and [(c.slot, c.decision) for c in claims] == [("20261201T020000Z", "skipped")]
        assert claims[0].reason == "run 20261130T020000Z is still active (overlap: skip)"
        queued_specs, _ = _specs(tmp_path, overlap="queue")
        _scheduler(queued_specs, Clock(datetime(2026, 12, 2, 2, 0, 5, tzinfo=UTC)), submitted).tick()
        assert submitted == ["20261202T020000Z"]
    finally:
        lease.release()


def _cli(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, **env},
    )


def test_pause_stops_slots_and_trigger_claims_one_now(tmp_path):
    specs, out = _specs(tmp_path)
    root = ["--output-uri", str(out)]
    assert _cli("schedule", "pause", "tiny-summaries", *root).returncode == 0
    submitted: list[str] = []
    clock = Clock(datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC))
    _scheduler(specs, clock, submitted).tick()
    assert submitted == [] and _claims(out) == []
    listed = json.loads(_cli("schedule", "list", "tiny-summaries", "--spec", str(specs / "job.yaml"), "--json").stdout)
    assert listed["paused"] is True and listed["next_slot"].endswith("T020000Z")
    assert _cli("schedule", "resume", "tiny-summaries", *root).returncode == 0
    _scheduler(specs, clock, submitted).tick()
    assert submitted == ["20261201T020000Z"]
    trigger = _cli("schedule", "trigger", "tiny-summaries", "--spec", str(specs / "job.yaml"), "--dry-run", "--json")
    assert trigger.returncode == 0, trigger.stderr
    triggered = json.loads(trigger.stdout)
    assert triggered["claimed"] is True and (triggered["slot"], "submitted") in _claims(out)


def _claim(out: Path, slot: str, *, decision: str, by: str = "scheduler h:1") -> None:
    from jobs.state import claim_slot
    from schemas.state import SlotClaim

    claim = SlotClaim(
        job="tiny-summaries",
        slot=slot,
        decision=decision,
        claimed_by=by,
        claimed_at="2026-12-01T02:00:00+00:00",
        run_id=None if decision == "skipped" else slot,
        reason="run x is still active (overlap: skip)" if decision == "skipped" else None,
    )
    assert claim_slot(LocalStorage(), JobLayout(output_uri=str(out), job="tiny-summaries"), claim)[0]


def _all_shards_written(spec_path: Path, run_id: str) -> None:
    """Every shard of the run recorded: its driver commits without starting Ray."""
    from jobs.inputs import inspect_input, split_shards
    from jobs.spec import load_spec
    from jobs.state import write_shard
    from tests.builders import output_table

    spec = load_spec(spec_path)
    layout = JobLayout(output_uri=spec.output.uri, job=spec.name).run(run_id)
    for shard in split_shards(inspect_input(spec).files, rows_per_shard=spec.input.rows_per_shard):
        ids = [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]
        write_shard(
            LocalStorage(),
            layout,
            Shard(index=shard.index, input_file=shard.input_file, row_start=shard.row_start, row_end=shard.row_end),
            output_table(ids),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        )


def test_a_claimed_night_is_resumed_never_lost_and_never_run_twice(tmp_path):
    """run --slot / submit --slot on a slot claimed already: a live driver means "in progress
    elsewhere" (exit 0), an uncommitted run is resumed, a committed one or a skip is left alone."""
    specs, out = _specs(tmp_path)
    spec, slot = str(specs / "job.yaml"), "20261201T020000Z"
    home = {"HF_HUB_OFFLINE": "1", "PRESSROOM_HOME": str(tmp_path / "home")}
    _claim(out, slot, decision="run", by="run")  # claimed, then the driver crashed before it started
    holder = take_lease(LocalStorage(), JobLayout(output_uri=str(out), job="tiny-summaries").run(slot), ttl=600)
    try:
        busy = _cli("run", spec, "--slot", slot, "--json", **home)
        assert busy.returncode == 0, busy.stderr
        assert "in progress elsewhere" in json.loads(busy.stdout)["nothing_to_run"]
    finally:
        holder.release()

    _all_shards_written(specs / "job.yaml", slot)
    resumed = _cli("run", spec, "--slot", slot, "--json", **home)
    assert resumed.returncode == 0, resumed.stderr
    assert "its run 20261201T020000Z is not committed: resuming it" in resumed.stderr
    summary = json.loads(resumed.stdout)
    assert (summary["run_id"], summary["state"], summary["totals"]["rows_in"]) == (slot, "succeeded", 4)
    assert json.loads((out / "tiny-summaries" / "runs" / slot / "_lease.json").read_text())["attempt"] == 2

    again = _cli("run", spec, "--slot", slot, "--json", **home)
    assert (
        again.returncode == 0 and json.loads(again.stdout)["nothing_to_run"] == f"run {slot} is committed (succeeded)"
    )
    submit = _cli("submit", spec, "--slot", slot, "--address", "http://127.0.0.1:9", "--json")
    assert submit.returncode == 0 and json.loads(submit.stdout)["claimed"] is False  # never reached the cluster

    _claim(out, "20261202T020000Z", decision="skipped")
    skipped = _cli("run", spec, "--slot", "20261202T020000Z", **home)
    assert skipped.returncode == 0 and "skipped by scheduler h:1 (run x is still active" in skipped.stderr
    listed = json.loads(_cli("schedule", "list", "tiny-summaries", "--output-uri", str(out), "--json").stdout)
    assert [(c["slot"], c["decision"], c["run_state"]) for c in listed["claims"]] == [
        (slot, "run", "succeeded"),
        ("20261202T020000Z", "skipped", "-"),
    ]
    bad = _cli("run", spec, "--slot", "2026-12-01T02:00:00")
    assert bad.returncode == 2 and "has no UTC offset" in bad.stderr


def test_a_slot_claimed_but_never_submitted_is_submitted_on_the_next_tick(tmp_path):
    specs, out = _specs(tmp_path)
    _claim(out, "20261201T020000Z", decision="submitted")  # a scheduler that died between claim and submit
    submitted: list[str] = []
    log: list[str] = []
    clock = Clock(datetime(2026, 12, 1, 2, 0, 30, tzinfo=UTC))  # 30 s after the claim: may be in flight
    _scheduler(specs, clock, submitted, log).tick()
    assert submitted == [] and not any("never submitted" in line for line in log)
    clock.now = datetime(2026, 12, 1, 2, 1, 0, tzinfo=UTC)  # a minute: its scheduler is gone
    _scheduler(specs, clock, submitted, log).tick()
    assert submitted == ["20261201T020000Z"]
    assert any("claimed by scheduler h:1 but never submitted; submitted run 20261201T020000Z" in line for line in log)
    _scheduler(specs, clock, submitted).tick()  # submitted now: left alone
    assert submitted == ["20261201T020000Z"] and _claims(out) == [("20261201T020000Z", "submitted")]
    listed = json.loads(_cli("schedule", "list", "tiny-summaries", "--output-uri", str(out), "--json").stdout)
    assert [c["run_state"] for c in listed["claims"]] == ["succeeded"]


def test_two_scheduler_processes_submit_each_slot_once(tmp_path):
    specs, out = _specs(tmp_path)
    now_file = tmp_path / "now"
    now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    now_file.write_text(now.isoformat())
    logs = [tmp_path / f"scheduler-{i}.log" for i in range(2)]
    spellings = [["schedule", "serve"], ["scheduler"]]  # the daemon's name, and its old spelling
    schedulers = [
        spawn_logged(
            [
                sys.executable,
                "-m",
                "jobs.cli",
                *spelling,
                "--specs",
                str(specs),
                "--poll",
                "0.1",
                "--dry-run",
                "--now-file",
                str(now_file),
            ],
            log,
            cwd=REPO,
            start_new_session=True,
        )
        for log, spelling in zip(logs, spellings, strict=True)
    ]
    try:
        slots = []
        for day in range(1, 5):
            now = datetime(2026, 12, day, 2, 0, 1, tzinfo=UTC)
            # Atomically: a scheduler reading the file mid-write would see it empty and exit.
            (tmp_path / "now.next").write_text(now.isoformat())
            os.replace(tmp_path / "now.next", now_file)
            slots.append(f"202612{day:02d}T020000Z")
            deadline = time.monotonic() + 60
            while not all(f"{now.isoformat()} tick" in log.read_text() for log in logs):  # both saw this night
                assert time.monotonic() < deadline and all(s.poll() is None for s in schedulers)
                time.sleep(0.05)
        for process in schedulers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=30) for process in schedulers]
    finally:
        for process in schedulers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert codes == [0, 0] and all(log.read_text().rstrip().endswith("stopped") for log in logs)
    assert "`pressroom scheduler` is now `pressroom schedule serve`" in logs[1].read_text()
    # A dry run submits nothing: its claims are not taken for crashed submissions on later ticks.
    assert not any("never submitted" in log.read_text() for log in logs)
    assert _claims(out) == [(slot, "submitted") for slot in slots]
    lines = [line for log in logs for line in log.read_text().splitlines() if ": submitted run " in line]
    assert sorted(line.split(" slot ")[1].split(":")[0] for line in lines) == slots  # each slot once, in all


def test_schedule_serve_json_writes_one_object_per_line(tmp_path):
    specs, out = _specs(tmp_path)
    now_file = tmp_path / "now"
    now_file.write_text("2026-12-01T02:00:01+00:00")
    args = ["schedule", "serve", "--specs", str(specs), "--once", "--dry-run", "--json", "--now-file", str(now_file)]
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0] == {"time": "2026-12-01T02:00:01+00:00", "message": "tick"}
    assert lines[1]["message"] == "tiny-summaries slot 20261201T020000Z: submitted run 20261201T020000Z"
