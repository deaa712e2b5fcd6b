"""gc deletes what no committed manifest lists, and only once past the grace period."""

from __future__ import annotations

import os
from pathlib import Path

from jobs import run as runner
from jobs.inputs import inspect_input, split_shards
from jobs.spec import load_spec
from jobs.state import RunLayout, collect_garbage, write_shard
from schemas.manifest import Shard
from schemas.tally import TallyColumns
from tests.builders import output_table, write_job
from workers.io import storage_for


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def _committed_run(tmp_path, monkeypatch):
    monkeypatch.setenv("PRESSROOM_HOME", str(tmp_path / "home"))
    spec = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 4}))
    storage = storage_for(spec.output.uri)
    shards = split_shards(inspect_input(spec).files, rows_per_shard=4)
    committed = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="done")
    for shard in shards:
        ids = [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]
        write_shard(
            storage,
            committed,
            Shard(index=shard.index, input_file=shard.input_file, row_start=shard.row_start, row_end=shard.row_end),
            output_table(ids),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        )
    result = runner.run_job(spec, run_id="done")  # every shard recorded: commits without Ray
    assert result.written
    return spec, storage, committed, result.manifest, len(shards)


def _old_file(path: Path, data: bytes, *, hours: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    _age(path, hours * 3600)
    return path


def test_gc_removes_orphans_and_abandoned_runs_but_keeps_committed_files(tmp_path, monkeypatch):
    spec, storage, committed, manifest, shards = _committed_run(tmp_path, monkeypatch)
    # A crash between a data file and its record, in a run nobody resumed for hours:
    crashed = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="crashed")
    orphan = _old_file(Path(crashed.run_dir) / crashed.data_path(0, 1), b"PAR1 half a file", hours=3)
    plan = _old_file(Path(crashed.plan), b"{}", hours=3)
    stray = _old_file(Path(committed.run_dir) / "data" / "shard-00001-a2.parquet", b"stray", hours=3)
    fresh_stray = _old_file(Path(committed.run_dir) / "data" / "shard-00002-a2.parquet", b"new", hours=0)

    dry = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600, dry_run=True)
    assert sorted(dry.deleted) == sorted([str(orphan), str(plan), str(stray)]) and orphan.exists()

    report = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600)

    assert sorted(report.deleted) == sorted([str(orphan), str(plan), str(stray)])
    assert report.kept_young == [str(fresh_stray)] and report.committed_runs == 1
    assert not orphan.exists() and not stray.exists() and fresh_stray.exists()
    listed = [Path(committed.run_dir) / f.path for f in manifest.files]
    assert all(p.exists() for p in listed) and Path(committed.manifest).exists()
    assert len(list(Path(committed.shards_dir).iterdir())) == shards


def test_gc_keeps_a_run_longer_than_the_grace_period_whole(tmp_path, monkeypatch):
    spec, storage, _, _, _ = _committed_run(tmp_path, monkeypatch)
    running = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="long")
    old = [
        _old_file(Path(running.plan), b"{}", hours=30),
        _old_file(Path(running.run_dir) / running.data_path(0, 1), b"PAR1 first shard", hours=29),
    ]
    newest = _old_file(Path(running.run_dir) / running.data_path(1, 1), b"PAR1 shard just written", hours=0)

    report = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600)

    assert report.deleted == [] and report.kept_live_runs == [running.run_dir]
    assert all(p.exists() for p in [*old, newest])


def test_gc_keeps_a_run_whose_lease_is_live_even_when_every_file_is_old(tmp_path, monkeypatch):
    from jobs.state import take_lease

    spec, storage, _, _, _ = _committed_run(tmp_path, monkeypatch)
    running = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="slow")
    lease = take_lease(storage, running, ttl=600)
    try:
        files = [Path(running.lease), _old_file(Path(running.plan), b"{}", hours=30)]
        _age(files[0], 30 * 3600)  # the lease file's age does not matter, only its expiry
        report = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600)
        assert report.deleted == [] and report.kept_live_runs == [running.run_dir]
    finally:
        lease.release()
    _age(files[0], 30 * 3600)  # released (a rewrite), then left alone for a day
    report = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600)
    assert sorted(report.deleted) == sorted(str(p) for p in files)  # released and old: abandoned
