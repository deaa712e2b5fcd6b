"""Publishing committed runs as Iceberg snapshots: a real SQLite catalog, a local warehouse and
one on the S3 server, read back with pyiceberg and with DuckDB through Arrow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from jobs.publish import PublishError, load_table, publish_committed, publish_pending, retain_runs, run_snapshots
from jobs.spec import load_spec
from jobs.state import RunLayout, commit_manifest, read_published
from schemas.spec import JobSpec
from tests.builders import article_rows, spec_dict, tiny_spec, write_spec, write_table
from tests.test_query import commit_run
from workers.io import storage_for

TABLE = "reports.nightly"


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    """An output root, and the catalog properties a spec gives for it (none: the local default)."""
    if request.param == "local":
        return str(tmp_path / "out"), None
    bucket = request.getfixturevalue("s3_bucket")
    catalog = {"type": "sql", "uri": f"sqlite:///{tmp_path / 'catalog.db'}", "warehouse": f"s3://{bucket}/warehouse"}
    return f"s3://{bucket}/out", catalog


def publishing_spec(out: str, catalog: dict | None, **sections) -> JobSpec:
    iceberg = {"table": TABLE, **({"catalog": catalog} if catalog else {})}
    return JobSpec.model_validate(
        spec_dict(
            input_uri="/data/in.parquet",
            output_uri=out,
            model_source="/models/m",
            publish={"iceberg": iceberg},
            **sections,
        )
    )


def night(spec: JobSpec, run_id: str, ids: list[str], day: int, **kwargs):
    manifest = commit_run(
        spec.output.uri, run_id, ids, job=spec.name, finished_at=f"2026-12-0{day}T02:00:00+00:00", **kwargs
    )
    return manifest, publish_pending(spec, storage_for(spec.output.uri))


def manifest_rows(spec: JobSpec, manifest) -> list[tuple]:
    """(id, text) of every row the manifest lists, read from its files."""
    storage = storage_for(spec.output.uri)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=manifest.run_id)
    rows = []
    for entry in manifest.files:
        filesystem, path = storage.arrow_filesystem(f"{layout.run_dir}/{entry.path}")
        table = pq.read_table(path, filesystem=filesystem, columns=["id", "text"])
        rows += list(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))
    return sorted(rows)


def test_three_nights_are_three_snapshots_read_by_pyiceberg_and_duckdb(root):
    out, catalog = root
    spec = publishing_spec(out, catalog)
    ids = [f"r{i:04d}" for i in range(6)]
    _, published_one = night(spec, "night-1", ids, 1, texts={"r0001": "中文摘要：夜间报告。"})
    two, _ = night(spec, "night-2", ids[1:] + ["r0006"], 2, extra={"category": list("abcdef")})
    three, published_three = night(spec, "night-3", ids[:3], 3)

    assert [p.run_id for p in published_one] == ["night-1"] and published_one[0].new
    table = load_table(spec.publish.iceberg, out)
    snapshots = table.snapshots()
    assert list(run_snapshots(table)) == ["night-1", "night-2", "night-3"]
    assert table.current_snapshot().snapshot_id == published_three[0].snapshot_id
    assert [s.summary.operation.value for s in snapshots] == ["append", "overwrite", "overwrite"]

    current = table.scan().to_arrow()
    assert sorted(
        zip(current.column("id").to_pylist(), current.column("text").to_pylist(), strict=True)
    ) == manifest_rows(spec, three)
    assert current.num_rows == three.totals.outputs
    tuesday = table.scan(snapshot_id=snapshots[1].snapshot_id).to_arrow()  # time travel: night 2
    assert sorted(
        zip(tuesday.column("id").to_pylist(), tuesday.column("text").to_pylist(), strict=True)
    ) == manifest_rows(spec, two)
    assert sorted(tuesday.column("category").to_pylist()) == list("abcdef")  # the column night 2 added
    assert set(current.column("category").to_pylist()) == {None}  # night 3 has none
    first = table.scan(snapshot_id=snapshots[0].snapshot_id).to_arrow()
    assert (
        dict(zip(first.column("id").to_pylist(), first.column("text").to_pylist(), strict=True))["r0001"]
        == "中文摘要：夜间报告。"
    )

    con = duckdb.connect()
    con.register("night3", table.scan().to_arrow())  # DuckDB reads the snapshot through Arrow
    assert con.sql("select count(*), count(distinct id) from night3").fetchall() == [(3, 3)]
    assert sorted(con.sql("select id, text from night3").fetchall()) == manifest_rows(spec, three)

    storage = storage_for(out)
    record = read_published(storage, RunLayout(output_uri=out, job=spec.name, run_id="night-2"))
    assert record.snapshot_id == snapshots[1].snapshot_id and record.table == TABLE
    # Registered, not rewritten: the table's files are the runs' own Parquet files.
    files = {task.file.file_path for task in table.scan().plan_files()}
    layout = RunLayout(output_uri=out, job=spec.name, run_id="night-3")
    assert files == {f"{layout.run_dir}/{entry.path}" for entry in three.files}


def test_rejected_and_older_runs_are_refused_and_a_published_run_is_not_published_again(tmp_path):
    spec = publishing_spec(str(tmp_path / "out"), None)
    storage = storage_for(spec.output.uri)
    ids = [f"r{i:04d}" for i in range(4)]
    night(spec, "night-2", ids, 2)
    older = commit_run(spec.output.uri, "night-1", ids, job=spec.name, finished_at="2026-12-01T02:00:00+00:00")
    assert publish_pending(spec, storage) == []  # older than the table's current run: not pending
    with pytest.raises(PublishError, match="older than night-2.*--force"):
        publish_committed(spec, storage, "night-1")
    again = publish_committed(spec, storage, "night-2")
    assert not again.new

    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="night-3")
    rejected = commit_run(spec.output.uri, "night-3-ok", ids, job=spec.name, finished_at="2026-12-03T02:00:00+00:00")
    bad = rejected.model_copy(
        update={
            "run_id": "night-3",
            "state": "rejected",
            "status": "rejected",
            "rejected_because": ["mean rouge_l 0.10 < 0.50"],
        }
    )
    commit_manifest(storage, layout, bad)
    with pytest.raises(PublishError, match="rejected.*never published"):
        publish_committed(spec, storage, "night-3")
    published = publish_pending(spec, storage)  # night-3-ok moved latest; the rejected one never does
    assert [p.run_id for p in published] == ["night-3-ok"]

    forced = publish_committed(spec, storage, "night-1", force=True)  # a deliberate roll back
    table = load_table(spec.publish.iceberg, spec.output.uri)
    assert forced.new and table.current_snapshot().snapshot_id == forced.snapshot_id
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == sorted(older.files and ids)
    assert list(run_snapshots(table)) == ["night-2", "night-3-ok", "night-1"]


def test_concurrent_publishers_of_one_run_make_one_snapshot(tmp_path):
    out = tmp_path / "out"
    spec_path = write_spec(
        tmp_path / "job.yaml",
        spec_dict(
            input_uri=str(write_table(tmp_path / "in.parquet", article_rows(4))),
            output_uri=str(out),
            model_source=str(tmp_path),
            publish={"iceberg": {"table": TABLE}},
        ),
    )
    spec = load_spec(spec_path)
    commit_run(spec.output.uri, "night-1", ["a", "b", "c", "d"], job=spec.name)
    command = [sys.executable, "-m", "jobs.cli", "publish", f"{spec.name}/night-1", "--spec", str(spec_path), "--json"]
    publishers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    answers = []
    for process in publishers:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        answers.append(json.loads(stdout))
    table = load_table(spec.publish.iceberg, spec.output.uri)
    assert len(table.snapshots()) == 1
    assert {a["snapshot_id"] for a in answers} == {table.current_snapshot().snapshot_id}
    assert sum(a["new"] for a in answers) == 1  # one made it; the others found it


def test_retention_expires_snapshots_before_deleting_runs(tmp_path):
    spec = publishing_spec(str(tmp_path / "out"), None)
    storage = storage_for(spec.output.uri)
    for day in (1, 2, 3):
        night(spec, f"night-{day}", [f"r{i}-{day}" for i in range(3)], day)
    runs = Path(spec.output.uri) / spec.name / "runs"

    report, held = retain_runs(
        storage, output_uri=spec.output.uri, job=spec.name, keep_runs=1, keep_days=None, iceberg=None
    )  # no catalog: a published run stays
    assert held == ["night-1", "night-2"] and report.deleted_runs == []
    gc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.cli",
            "gc",
            spec.name,
            "--output-uri",
            spec.output.uri,
            "--keep-runs",
            "1",
            "--grace-hours",
            "0",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kept committed run night-1: an Iceberg snapshot still references it" in gc.stdout
    assert sorted(p.parent.name for p in runs.glob("*/_manifest.json")) == ["night-1", "night-2", "night-3"]

    report, held = retain_runs(
        storage, output_uri=spec.output.uri, job=spec.name, keep_runs=1, keep_days=None, iceberg=spec.publish.iceberg
    )
    assert report.deleted_runs == ["night-1", "night-2"] and held == []
    table = load_table(spec.publish.iceberg, spec.output.uri)
    assert list(run_snapshots(table)) == ["night-3"]
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == ["r0-3", "r1-3", "r2-3"]
    assert sorted(p.parent.name for p in runs.glob("*/_manifest.json")) == ["night-3"]
    assert not list((runs / "night-1").rglob("*.parquet"))


@pytest.mark.slow
def test_a_crash_between_the_manifest_and_the_iceberg_commit_is_repaired_by_the_next_run(
    tiny_model, tmp_path, ray_session, monkeypatch
):
    from jobs import run as runner
    from jobs.run import attempt

    table_path = write_table(tmp_path / "in.parquet", article_rows(12))
    spec = load_spec(
        write_spec(
            tmp_path / "job.yaml",
            tiny_spec(
                model=tiny_model,
                input_uri=table_path,
                output_uri=tmp_path / "out",
                engine="hf",
                publish={"iceberg": {"table": TABLE}},
            ),
        )
    )

    def crash(spec, storage):
        raise RuntimeError("driver crashed between the manifest commit and the Iceberg commit")

    monkeypatch.setattr(attempt, "publish_pending", crash)
    with pytest.raises(RuntimeError, match="crashed"):
        runner.run_job(spec, run_id="night-1")
    monkeypatch.undo()
    storage = storage_for(spec.output.uri)
    assert load_table(spec.publish.iceberg, spec.output.uri) is None  # committed, not published
    assert read_published(storage, RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="night-1")) is None

    result = runner.run_job(spec, run_id="night-2")

    assert [p.run_id for p in result.published] == ["night-1", "night-2"]
    table = load_table(spec.publish.iceberg, spec.output.uri)
    assert list(run_snapshots(table)) == ["night-1", "night-2"]  # one snapshot each
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [f"r{i:04d}" for i in range(12)]
    assert runner.run_job(spec, run_id="night-2").published == ()  # a rerun of a committed run: nothing new
    assert len(table.refresh().snapshots()) == 2


def test_a_publisher_that_loses_the_commit_race_finds_the_winners_snapshot(tmp_path, monkeypatch):
    from jobs.publish import iceberg as publishing

    spec = publishing_spec(str(tmp_path / "out"), None)
    storage = storage_for(spec.output.uri)
    night(spec, "night-1", ["a", "b"], 1)
    two = commit_run(
        spec.output.uri, "night-2", ["a", "b", "c"], job=spec.name, finished_at="2026-12-02T02:00:00+00:00"
    )
    stale = load_table(spec.publish.iceberg, spec.output.uri)  # loaded before the winner commits
    winner = publish_committed(spec, storage, "night-2")
    handles = iter([stale])
    monkeypatch.setattr(publishing, "load_table", lambda *a, **k: next(handles, None) or load_table(*a, **k))

    loser = publishing.publish_run(spec, storage, two)

    assert not loser.new and loser.snapshot_id == winner.snapshot_id
    assert list(run_snapshots(load_table(spec.publish.iceberg, spec.output.uri))) == ["night-1", "night-2"]


def test_a_spec_or_table_iceberg_cannot_take_fails_before_anything_runs(tmp_path):
    import pyarrow as pa
    from pydantic import ValidationError

    from jobs.errors import InputError
    from jobs.run import run_job

    with pytest.raises(ValidationError, match="publish.iceberg.catalog is required for an output root in object"):
        publishing_spec("s3://bucket/out", None)
    rows = pa.table({"id": ["a"], "title": ["t"], "body": ["b"], "when": pa.array([1], pa.timestamp("ns"))})
    path = tmp_path / "in.parquet"
    pq.write_table(rows, path)
    spec = JobSpec.model_validate(
        spec_dict(
            input_uri=str(path),
            output_uri=str(tmp_path / "out"),
            model_source="/models/none",
            input={"uri": str(path), "id_column": "id", "columns": ["title", "when"]},
            publish={"iceberg": {"table": TABLE}},
        )
    )
    with pytest.raises(InputError, match=r"in.parquet: column 'when' \(timestamp\[ns\]\) cannot go into an Iceberg"):
        run_job(spec, run_id="night-1")
    assert not (tmp_path / "out" / spec.name / "runs" / "night-1" / "_run.json").exists()
