"""Faults a nightly job must survive, each with real processes: killed drivers and actors, a
flaky object store, crashes between writes, racing commits, lost answers.

Every test that starts processes tags them through the environment and checks that none is
left running afterwards (Ray, the vLLM engine, the proxy).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.manifest import Shard
from schemas.tally import TallyColumns
from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.processes import TAG_VARIABLE, command_line, new_tag, reap, tagged_pids
from tests.s3 import proxy_stats, running_fault_proxy

pytestmark = pytest.mark.slow


def start_cli(*args: str, tag: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {}), TAG_VARIABLE: tag, "HF_HUB_OFFLINE": "1"},
    )


def run_cli(*args: str, tag: str, env: dict | None = None, timeout: int = 400) -> subprocess.CompletedProcess:
    process = start_cli(*args, tag=tag, env=env)
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        leftovers = reap(tag)
    assert leftovers == [], f"processes left running: {[command_line(p) for p in leftovers]}"
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def wait_for(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def committed_rows(manifest_path: Path) -> tuple[dict, pa.Table]:
    """The manifest and its files' rows, after checking every checksum."""
    manifest = json.loads(manifest_path.read_text())
    tables = []
    for entry in manifest["files"]:
        data = (manifest_path.parent / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        tables.append(pq.read_table(manifest_path.parent / entry["path"]))
    return manifest, pa.concat_tables(tables)


def test_sigkill_driver_then_resume_regenerates_only_unfinished_shards(tiny_model, tmp_path):
    rows = 240  # 15 shards: enough that the kill lands with most of them unfinished
    table = write_table(tmp_path / "in.parquet", article_rows(rows))
    spec = write_spec(
        tmp_path / "job.yaml",
        tiny_spec(
            model=tiny_model,
            input_uri=table,
            output_uri=tmp_path / "out",
            input={"rows_per_shard": 16},
            sampling={"max_tokens": 48},
            resources={"batch_size": 16},
        ),
    )
    run_dir = tmp_path / "out" / "tiny-summaries" / "runs" / "night"
    tag = new_tag()
    driver = start_cli("run", str(spec), "--run-id", "night", tag=tag)
    try:
        assert wait_for(lambda: len(list((run_dir / "shards").glob("*.json"))) >= 2, timeout=300)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
    finally:
        leftovers = reap(tag)
        driver.communicate()
    assert leftovers == [], [command_line(p) for p in leftovers]
    finished_before = len(list((run_dir / "shards").glob("*.json")))
    assert not (run_dir / "_manifest.json").exists() and finished_before < rows // 16

    resumed = run_cli("run", str(spec), "--run-id", "night", "--json", tag=new_tag())

    assert resumed.returncode == 0, resumed.stderr[-2000:]
    manifest, output = committed_rows(run_dir / "_manifest.json")
    ids = output.column("id").to_pylist()
    assert ids == [f"r{i:04d}" for i in range(rows)] and len(set(ids)) == rows
    totals = manifest["totals"]
    assert totals["rows_in"] == rows == totals["rows_reused"] + totals["rows_generated"]
    assert totals["rows_reused"] >= 2 * 16 and totals["rows_generated"] < rows
    assert totals["rows_failed"] == 0


def test_killing_a_generation_actor_mid_job_loses_and_duplicates_nothing(tiny_model, tmp_path):
    rows = 160
    table = write_table(tmp_path / "in.parquet", article_rows(rows))
    spec = write_spec(
        tmp_path / "job.yaml",
        tiny_spec(
            model=tiny_model,
            input_uri=table,
            output_uri=tmp_path / "out",
            engine="hf",
            input={"rows_per_shard": 8},
            sampling={"max_tokens": 24},
            resources={"batch_size": 8},
        ),
    )
    run_dir = tmp_path / "out" / "tiny-summaries" / "runs" / "night"
    tag = new_tag()
    driver = start_cli("run", str(spec), "--run-id", "night", "--json", tag=tag)
    try:
        assert wait_for(lambda: len(list((run_dir / "shards").glob("*.json"))) >= 1, timeout=300)
        actors = [p for p in tagged_pids(tag) if "GenerationActor" in command_line(p)]
        assert actors, "no generation actor process found"
        os.kill(actors[0], signal.SIGKILL)
        done_at_kill = len(list((run_dir / "shards").glob("*.json")))
        out, err = driver.communicate(timeout=400)
    finally:
        leftovers = reap(tag)
    assert leftovers == [], [command_line(p) for p in leftovers]
    assert driver.returncode == 0, err[-3000:]
    assert json.loads(out)["run_id"] == "night"
    assert done_at_kill < rows // 8  # shards were still to come from the actor we killed
    manifest, output = committed_rows(run_dir / "_manifest.json")
    ids = output.column("id").to_pylist()
    assert ids == [f"r{i:04d}" for i in range(rows)]
    assert manifest["totals"]["rows_failed"] == 0 and manifest["totals"]["rows_generated"] == rows


def _s3_spec(tmp_path, *, model, bucket, engine="hf") -> Path:
    import boto3

    rows = article_rows(48)
    path = write_table(tmp_path / "upload.parquet", rows)
    client = boto3.session.Session().client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    client.put_object(Bucket=bucket, Key="input/part-0.parquet", Body=path.read_bytes())
    return write_spec(
        tmp_path / "job.yaml",
        tiny_spec(
            model=model,
            input_uri=f"s3://{bucket}/input",
            output_uri=f"s3://{bucket}/out",
            engine=engine,
            input={"rows_per_shard": 8},
            resources={"batch_size": 8},
        ),
    )


def _s3_output(bucket: str, run_id: str) -> tuple[dict, list[dict]]:
    from jobs.state import load_committed, verify_files
    from workers.io import storage_for

    run_dir = f"s3://{bucket}/out/tiny-summaries/runs/{run_id}"
    manifest, _ = load_committed(run_dir)
    assert verify_files(manifest, run_dir) == []
    storage = storage_for(run_dir)
    rows = []
    for entry in manifest.files:
        rows += pq.read_table(pa.BufferReader(storage.read_bytes(f"{run_dir}/{entry.path}"))).to_pylist()
    return manifest.model_dump(mode="json"), rows


def test_thirty_percent_503s_from_object_storage_change_nothing(tiny_model, tmp_path, s3_bucket, s3_server):
    spec = _s3_spec(tmp_path, model=tiny_model, bucket=s3_bucket)
    clean = run_cli("run", str(spec), "--run-id", "clean", "--json", tag=new_tag())
    assert clean.returncode == 0, clean.stderr[-3000:]
    with running_fault_proxy(s3_server, fault_rate=0.3, seed=7) as (proxy, _process):
        flaky = run_cli("run", str(spec), "--run-id", "flaky", "--json", tag=new_tag(), env={"AWS_ENDPOINT_URL": proxy})
        stats = proxy_stats(proxy)
    assert flaky.returncode == 0, flaky.stderr[-3000:]
    print(f"fault proxy: {stats['requests']} requests, {stats['faults']} answered 503 and retried")
    assert stats["faults"] > 10 and stats["forwarded"] > 0

    clean_manifest, clean_rows = _s3_output(s3_bucket, "clean")
    flaky_manifest, flaky_rows = _s3_output(s3_bucket, "flaky")
    assert [r["id"] for r in flaky_rows] == [f"r{i:04d}" for i in range(48)]
    assert flaky_rows == clean_rows  # same text, tokens and columns, row for row
    assert flaky_manifest["totals"] == clean_manifest["totals"] and flaky_manifest["totals"]["rows_in"] == 48
    assert "testing" not in flaky.stdout + flaky.stderr  # the test secret never shows


def _every_shard_done(tmp_path, *, bucket: str, run_id: str):
    """A spec on S3 and a run whose every shard has its data file and record: only the commit is left."""
    from jobs.inputs import inspect_input, split_shards
    from jobs.spec import load_spec
    from jobs.state import RunLayout, write_shard
    from tests.builders import make_model_dir, output_table
    from workers.io import storage_for

    spec_path = _s3_spec(tmp_path, model=make_model_dir(tmp_path / "model"), bucket=bucket)
    spec = load_spec(spec_path)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    storage = storage_for(spec.output.uri)
    for shard in split_shards(inspect_input(spec).files, rows_per_shard=8):
        ids = [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]
        write_shard(
            storage,
            layout,
            Shard(index=shard.index, input_file=shard.input_file, row_start=shard.row_start, row_end=shard.row_end),
            output_table(ids),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        )
    return spec_path, layout


def test_two_drivers_committing_one_run_write_one_manifest(tmp_path, s3_bucket):
    import boto3

    client = boto3.session.Session().client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    spec_path, layout = _every_shard_done(tmp_path, bucket=s3_bucket, run_id="race")

    tag = new_tag()
    # Both wait for the lease: one commits, the other then finds the commit (without waiting it exits 3).
    drivers = [
        start_cli("run", str(spec_path), "--run-id", "race", "--wait-lease", "--json", tag=tag) for _ in range(2)
    ]
    results = [d.communicate(timeout=120) for d in drivers]
    assert reap(tag) == []

    assert [d.returncode for d in drivers] == [0, 0], [err[-1000:] for _, err in results]
    summaries = [json.loads(out) for out, _ in results]
    assert sorted(s["already_committed"] for s in summaries) == [False, True]
    loser_err = next(err for (out, err), s in zip(results, summaries, strict=True) if s["already_committed"])
    assert "already committed" in loser_err
    versions = client.list_object_versions(Bucket=s3_bucket, Prefix=layout.manifest.split("/", 3)[3])
    assert len(versions.get("Versions", [])) == 1  # exactly one manifest was ever written


def test_a_manifest_put_whose_answer_is_lost_commits_once(tmp_path, s3_bucket, s3_server):
    import boto3

    client = boto3.session.Session().client("s3", endpoint_url=s3_server)
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    spec_path, layout = _every_shard_done(tmp_path, bucket=s3_bucket, run_id="lost")

    with running_fault_proxy(s3_server, fault_rate=0.0, lose_answer="_manifest.json") as (proxy, _process):
        result = run_cli(
            "run", str(spec_path), "--run-id", "lost", "--json", tag=new_tag(), env={"AWS_ENDPOINT_URL": proxy}
        )
        stats = proxy_stats(proxy)

    assert stats["answers_lost"] == 1
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["already_committed"] is False  # recognised as its own commit
    key = layout.manifest.split("/", 3)[3]
    assert len(client.list_object_versions(Bucket=s3_bucket, Prefix=key).get("Versions", [])) == 1
    latest = json.loads(client.get_object(Bucket=s3_bucket, Key=layout.latest.split("/", 3)[3])["Body"].read())
    assert latest["run_id"] == "lost"


def test_crash_between_data_file_and_record_regenerates_that_shard(tiny_model, tmp_path, ray_session, monkeypatch):
    from jobs import run as runner
    from jobs import state as commit
    from jobs.errors import JobError
    from jobs.spec import load_spec
    from jobs.state import collect_garbage
    from workers.io import storage_for

    table = write_table(tmp_path / "in.parquet", article_rows(40))
    spec = load_spec(
        write_spec(
            tmp_path / "job.yaml",
            tiny_spec(
                model=tiny_model,
                input_uri=table,
                output_uri=tmp_path / "out",
                engine="hf",
                resources={"batch_size": 8},
            ),
        )
    )
    layout = commit.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id="crash")
    real_write = commit.write_shard

    def crash_after_data(storage, layout, shard, *args, **kwargs):
        record = real_write(storage, layout, shard, *args, **kwargs)
        if shard.index == 2:
            storage.delete(layout.shard_record(2))  # the record never made it
            raise RuntimeError("driver crashed between the data file and its record")
        return record

    monkeypatch.setattr(commit, "write_shard", crash_after_data)
    with pytest.raises(JobError):
        runner.run_job(spec, run_id="crash")
    monkeypatch.setattr(commit, "write_shard", real_write)
    orphan = Path(layout.run_dir) / layout.data_path(2, 1)
    assert orphan.exists() and not Path(layout.shard_record(2)).exists()
    assert not Path(layout.manifest).exists()
    storage = storage_for(spec.output.uri)
    would_delete = collect_garbage(storage, output_uri=spec.output.uri, job=spec.name, grace_seconds=0, dry_run=True)
    assert str(orphan) in would_delete.deleted  # not listed by any committed manifest

    result = runner.run_job(spec, run_id="crash")

    manifest, output = committed_rows(Path(result.manifest_uri))
    assert output.column("id").to_pylist() == [f"r{i:04d}" for i in range(40)]
    totals = manifest["totals"]
    assert totals["rows_reused"] + totals["rows_generated"] == 40 and 8 <= totals["rows_generated"] < 40
    assert "data/shard-00002-a2.parquet" in [f["path"] for f in manifest["files"]]  # the resume is attempt 2
