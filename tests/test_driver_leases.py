"""One live driver per run, with real drivers: a second one exits 3 or waits, and a driver frozen
past its lease changes no committed byte when it wakes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.processes import command_line, new_tag, reap
from tests.test_faults import committed_rows, run_cli, start_cli, wait_for

pytestmark = pytest.mark.slow


def _spec(tmp_path, tiny_model, *, rows: int, max_tokens: int = 8) -> Path:
    table = write_table(tmp_path / "in.parquet", article_rows(rows))
    return write_spec(
        tmp_path / "job.yaml",
        tiny_spec(
            model=tiny_model,
            input_uri=table,
            output_uri=tmp_path / "out",
            engine="hf",
            input={"rows_per_shard": 8},
            sampling={"max_tokens": max_tokens},
            resources={"batch_size": 8},
        ),
    )


def _finish(process: subprocess.Popen, tag: str, *, timeout: float = 400) -> subprocess.CompletedProcess:
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        leftovers = reap(tag)
    assert leftovers == [], [command_line(p) for p in leftovers]
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_a_second_driver_exits_3_naming_the_holder_and_a_waiting_one_finds_the_commit(tiny_model, tmp_path):
    spec = _spec(tmp_path, tiny_model, rows=48)
    lease = tmp_path / "out" / "tiny-summaries" / "runs" / "night" / "_lease.json"
    first_tag, waiting_tag = new_tag(), new_tag()
    first = start_cli("run", str(spec), "--run-id", "night", "--json", tag=first_tag)
    waiting = None
    try:
        assert wait_for(lease.exists, timeout=120)
        holder = json.loads(lease.read_text())["holder"]["pid"]
        began = time.monotonic()
        second = run_cli("run", str(spec), "--run-id", "night", tag=new_tag(), timeout=120)
        assert second.returncode == 3 and time.monotonic() - began < 60
        lines = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and f"pid {holder}" in lines[0] and "held by another driver" in lines[0]
        assert "(engine and Ray logs: " in lines[0]  # every failure names the log it kept
        waiting = start_cli("run", str(spec), "--run-id", "night", "--wait-lease", "--json", tag=waiting_tag)
        done = _finish(first, first_tag)
        assert done.returncode == 0, done.stderr[-2000:]
    finally:
        reap(first_tag)
    waited = _finish(waiting, waiting_tag)
    assert waited.returncode == 0, waited.stderr[-2000:]
    assert json.loads(waited.stdout)["already_committed"] is True
    assert json.loads(done.stdout)["already_committed"] is False


def test_a_driver_frozen_past_its_lease_changes_no_committed_byte(tiny_model, tmp_path):
    rows = article_rows(48)
    for part in range(6):  # one file per shard: each is its own read task, so shards land one by one
        write_table(tmp_path / "in" / f"part-{part}.parquet", rows[8 * part : 8 * part + 8])
    spec = write_spec(
        tmp_path / "job.yaml",
        tiny_spec(
            model=tiny_model,
            input_uri=tmp_path / "in",
            output_uri=tmp_path / "out",
            engine="hf",
            input={"rows_per_shard": 8},
            resources={"batch_size": 8},
        ),
    )
    run_dir = tmp_path / "out" / "tiny-summaries" / "runs" / "night"
    short = {"PRESSROOM_LEASE_SECONDS": "4"}
    slow = {
        **short,
        "RAY_RUNTIME_ENV_HOOK": "tests.fault_engine.runtime_env_hook",
        "PRESSROOM_TEST_SLOW_GENERATE_S": "1.5",
    }
    frozen_tag = new_tag()
    frozen = start_cli("run", str(spec), "--run-id", "night", tag=frozen_tag, env=slow)
    try:
        assert wait_for(lambda: len(list((run_dir / "shards").glob("*.json"))) >= 1, timeout=300, interval=0.02)
        frozen.send_signal(signal.SIGSTOP)  # shards still in flight in its actor, its lease no longer renewed
        frozen_records = {p.name: p.read_bytes() for p in (run_dir / "shards").glob("*.json")}
        assert 1 <= len(frozen_records) < 6
        assert wait_for(
            lambda: json.loads((run_dir / "_lease.json").read_text())["expires_at"] < time.time(), timeout=30
        )
        taker = run_cli("run", str(spec), "--run-id", "night", "--json", tag=new_tag(), env=short)
        assert taker.returncode == 0, taker.stderr[-2000:]
        manifest_bytes = (run_dir / "_manifest.json").read_bytes()
        manifest, output = committed_rows(run_dir / "_manifest.json")
        listed = {entry["path"]: (run_dir / entry["path"]).read_bytes() for entry in manifest["files"]}
        attempts = sorted(path.rsplit("-", 1)[1] for path in listed)
        assert attempts.count("a1.parquet") == len(frozen_records)  # the frozen driver's shards, reused
        assert attempts.count("a2.parquet") == 6 - len(frozen_records)  # the taker was attempt 2
        records = {p.name: p.read_bytes() for p in (run_dir / "shards").glob("*.json")}

        frozen.send_signal(signal.SIGCONT)  # its actor finished more shards meanwhile: it tries to write them
        woke = _finish(frozen, frozen_tag, timeout=120)
    finally:
        frozen.send_signal(signal.SIGCONT)
        reap(frozen_tag)
    assert woke.returncode == 3, woke.stderr[-2000:]
    assert "lost the lease on run night" in woke.stderr and "writes nothing more" in woke.stderr
    assert (run_dir / "_manifest.json").read_bytes() == manifest_bytes
    assert {path: (run_dir / path).read_bytes() for path in listed} == listed
    assert {p.name: p.read_bytes() for p in (run_dir / "shards").glob("*.json")} == records
    verify = run_cli("show", "--verify", str(run_dir), tag=new_tag(), timeout=60)
    assert verify.returncode == 0 and "verify: ok" in verify.stdout
    assert sorted(output.column("id").to_pylist()) == [f"r{i:04d}" for i in range(48)]
