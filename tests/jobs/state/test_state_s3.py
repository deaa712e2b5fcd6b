"""Run state on a real S3 server: conditional writes are required, gc lists instead of asking
about every object, and remote models are checked without downloading their weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jobs.errors import JobError
from jobs.state import RunLayout, check_conditional_writes, collect_garbage, commit_manifest, write_shard
from schemas.manifest import Shard
from schemas.tally import TallyColumns
from tests.builders import (
    article_table,
    make_manifest,
    make_model_dir,
    output_table,
    spec_dict,
    write_parquet,
    write_spec,
)
from tests.s3 import proxy_stats, running_fault_proxy
from workers.io import S3Storage

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
    )


def test_a_store_that_ignores_conditional_writes_is_refused_naming_it(s3_server, s3_bucket, tmp_path, monkeypatch):
    with running_fault_proxy(s3_server, fault_rate=0.0, strip_conditional=True) as (url, _):
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        port = url.rsplit(":", 1)[1]
        with pytest.raises(JobError, match=rf"127\.0\.0\.1:{port}.*ignores conditional writes"):
            check_conditional_writes(S3Storage(), f"s3://{s3_bucket}/stripped")
        write_parquet(tmp_path / "data" / "articles.parquet", article_table(6))
        make_model_dir(tmp_path / "model")
        spec = write_spec(
            tmp_path / "job.yaml",
            spec_dict(input_uri="data/articles.parquet", output_uri=f"s3://{s3_bucket}/out", model_source="./model"),
        )
        done = _cli(
            "run",
            str(spec),
            "--run-id",
            "night",
            env={"AWS_ENDPOINT_URL": url, "PRESSROOM_HOME": str(tmp_path / "home")},
        )
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)  # the proxy is gone: talk to the server itself
    assert done.returncode == 1, done.stderr
    assert "ignores conditional writes (If-None-Match)" in done.stderr and f"127.0.0.1:{port}" in done.stderr
    assert S3Storage().list_files(f"s3://{s3_bucket}/out/tiny-summaries") == []  # nothing claimed
    check_conditional_writes(S3Storage(), f"s3://{s3_bucket}/direct")  # the real server honours them


def test_gc_on_s3_lists_once_and_never_heads_an_object(s3_server, s3_bucket, monkeypatch):
    with running_fault_proxy(s3_server, fault_rate=0.0) as (url, _):
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        storage = S3Storage()
        out = f"s3://{s3_bucket}/out"
        committed = RunLayout(output_uri=out, job="j", run_id="done")
        ids = [f"r{i:04d}" for i in range(6)]
        records = [
            write_shard(
                storage,
                committed,
                Shard(index=k, input_file="/in.parquet", row_start=3 * k, row_end=3 * k + 3),
                output_table(ids[3 * k : 3 * k + 3]),
                columns=TallyColumns(id_column="id"),
                attempt=1,
            )
            for k in range(2)
        ]
        commit_manifest(storage, committed, make_manifest(committed, records))
        abandoned = RunLayout(output_uri=out, job="j", run_id="abandoned")
        for name in ("_run.json", "data/shard-00000-a1.parquet", "data/shard-00001-a1.parquet"):
            storage.write_bytes(f"{abandoned.run_dir}/{name}", b"x")
        before = proxy_stats(url)["methods"]
        report = collect_garbage(storage, output_uri=out, job="j", grace_seconds=0)
        after = proxy_stats(url)["methods"]
    assert sorted(report.deleted) == sorted(
        f"{abandoned.run_dir}/{n}" for n in ("_run.json", "data/shard-00000-a1.parquet", "data/shard-00001-a1.parquet")
    )
    used = {method: after.get(method, 0) - before.get(method, 0) for method in after}
    assert used.get("HEAD", 0) == 0
    # one listing page, the committed manifest, the abandoned run's (absent) lease, three deletes
    assert used.get("GET", 0) == 3 and used.get("DELETE", 0) == 3


def _upload(directory: Path, bucket: str, prefix: str) -> str:
    storage = S3Storage()
    for path in directory.rglob("*"):
        if path.is_file():
            storage.write_bytes(f"s3://{bucket}/{prefix}/{path.relative_to(directory)}", path.read_bytes())
    return f"s3://{bucket}/{prefix}"


def test_validate_checks_an_s3_model_without_downloading_it(s3_bucket, tmp_path):
    model = make_model_dir(tmp_path / "model")
    (model / "model.safetensors").write_bytes(os.urandom(1 << 20))
    source = _upload(model, s3_bucket, "models/tiny")
    write_parquet(tmp_path / "data" / "articles.parquet", article_table(6))
    home = tmp_path / "home"
    for target, code in ((source, 0), (f"s3://{s3_bucket}/models/absent", 2)):
        spec = write_spec(
            tmp_path / "job.yaml", spec_dict(input_uri="data/articles.parquet", output_uri="out", model_source=target)
        )
        done = _cli("validate", str(spec), env={"PRESSROOM_HOME": str(home)})
        assert done.returncode == code, done.stderr
    assert "holds no files" in done.stderr
    assert not (home / "cache" / "remote").exists()  # no weights were fetched


def test_model_downloads_stream_to_disk(s3_bucket, tmp_path):
    model = make_model_dir(tmp_path / "model")
    (model / "model.safetensors").write_bytes(os.urandom(96 << 20))
    source = _upload(model, s3_bucket, "models/big")
    probe = textwrap.dedent(f"""
        import resource
        import boto3  # loaded before the baseline: only the download counts
        from workers.models import fetch_directory
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        path, _ = fetch_directory({source!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024, (path / "model.safetensors").stat().st_size)
    """)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PRESSROOM_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stderr
    grown_mib, size = map(int, done.stdout.split())
    assert size == 96 << 20
    assert grown_mib < 64  # a whole-object read would need at least 96 MiB
