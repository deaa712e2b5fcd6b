"""gc deletes what no committed manifest lists, and only once past the grace period."""

from __future__ import annotations

import os
from pathlib import Path

from jobs import run as runner
from jobs.plan import inspect_input, plan_shards
from jobs.spec import load_spec
from jobs.state import RunLayout, collect_garbage, write_shard
from tests.jobs.builders import output_table, write_job
from workers.io import storage_for


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def test_gc_removes_orphans_and_abandoned_runs_but_keeps_committed_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PRESSROOM_HOME", str(tmp_path / "home"))
    spec = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 4}))
    storage = storage_for(spec.output.uri)
    shards = plan_shards(inspect_input(spec).files, rows_per_shard=4)
    committed = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="done")
    for shard in shards:
        ids = [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]
        write_shard(storage, committed, shard=shard.index, input_file=shard.input_file,
                    row_range=(shard.row_start, shard.row_end), table=output_table(ids), id_column="id")
    result = runner.run_job(spec, run_id="done")  # every shard recorded: commits without Ray
    assert result.written
    # A crash between a data file and its record, in a run nobody resumed:
    crashed = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="crashed")
    orphan = Path(crashed.run_dir) / crashed.data_path(0)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"PAR1 half a file")
    stray = Path(committed.run_dir) / "data" / "shard-00099.parquet"  # unlisted file in a committed run
    stray.write_bytes(b"stray")
    young = Path(crashed.run_dir) / "data" / "shard-00001.parquet"
    young.write_bytes(b"still being written")
    _age(orphan, 3 * 3600)
    _age(stray, 3 * 3600)

    dry = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600, dry_run=True)
    assert sorted(dry.deleted) == sorted([str(orphan), str(stray)]) and orphan.exists()

    report = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=3600)

    assert sorted(report.deleted) == sorted([str(orphan), str(stray)])
    assert report.kept_young == [str(young)] and report.committed_runs == 1
    assert not orphan.exists() and not stray.exists() and young.exists()
    listed = [Path(committed.run_dir) / f.path for f in result.manifest.files]
    assert all(p.exists() for p in listed) and Path(committed.manifest).exists()
    assert len(list(Path(committed.shards_dir).iterdir())) == len(shards)
