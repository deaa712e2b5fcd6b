"""Model and adapter directories on S3: fetched once per node, keyed and verified by hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.processes import TAG_VARIABLE, new_tag, reap


def upload_dir(local: Path, bucket: str, prefix: str) -> str:
    import boto3

    client = boto3.session.Session().client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    for path in sorted(local.rglob("*")):
        if path.is_file():
            client.put_object(Bucket=bucket, Key=f"{prefix}/{path.relative_to(local)}", Body=path.read_bytes())
    return f"s3://{bucket}/{prefix}"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PRESSROOM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_remote_model_is_fetched_once_and_verified(tiny_model, s3_bucket, home, monkeypatch):
    from workers.models import ModelSourceError, directory_sha256, local_copy, resolve_model
    from workers.models import cache as model_cache

    uri = upload_dir(tiny_model, s3_bucket, "models/tiny")
    first = resolve_model(uri)
    assert first.sha256 == directory_sha256(tiny_model)  # same files, same content hash
    assert Path(first.path).is_relative_to(home) and (Path(first.path) / "config.json").exists()

    def no_download(*args, **kwargs):
        raise AssertionError("downloaded twice")

    monkeypatch.setattr(model_cache, "_download", no_download)
    assert resolve_model(uri) == first
    assert local_copy(uri, expected_sha256=first.sha256) == first.path

    with pytest.raises(model_cache.ModelCacheError, match="changed during the run"):
        local_copy(uri, expected_sha256="0" * 64)
    (Path(first.path) / "config.json").write_text("{}")  # a torn or tampered local copy
    with pytest.raises(ModelSourceError, match="does not match its recorded hash"):
        resolve_model(uri)
    assert not Path(first.path).exists()


def test_missing_remote_model_is_a_spec_error(s3_bucket, home):
    from workers.models import ModelSourceError, resolve_model

    with pytest.raises(ModelSourceError, match="holds no files"):
        resolve_model(f"s3://{s3_bucket}/models/absent")


@pytest.mark.slow
def test_job_with_input_model_and_adapter_on_s3(tiny_model, tmp_path, s3_bucket, home):
    from tests.tiny_models import build_lora_adapter
    from workers.models import directory_sha256

    adapter = build_lora_adapter(tiny_model, tmp_path / "adapter", seed=5)
    model_uri = upload_dir(tiny_model, s3_bucket, "models/tiny")
    adapter_uri = upload_dir(adapter, s3_bucket, "adapters/a")
    local_input = write_table(tmp_path / "in" / "part-0.parquet", article_rows(12))
    input_uri = upload_dir(local_input.parent, s3_bucket, "input")
    spec_dict = tiny_spec(model=tiny_model, input_uri=input_uri, output_uri=f"s3://{s3_bucket}/out", engine="hf")
    spec_dict["model"].update(source=model_uri, adapter=adapter_uri)
    spec = write_spec(tmp_path / "job.yaml", spec_dict)
    tag = new_tag()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "jobs.cli", "run", str(spec), "--run-id", "remote", "--json"],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, TAG_VARIABLE: tag, "HF_HUB_OFFLINE": "1"},
        )
    finally:
        assert reap(tag) == []

    assert proc.returncode == 0, proc.stderr[-3000:]
    from jobs.state import load_committed, verify_files

    run_dir = f"s3://{s3_bucket}/out/tiny-summaries/runs/remote"
    manifest, _ = load_committed(run_dir)
    assert verify_files(manifest, run_dir) == []
    assert manifest.model.source == model_uri and manifest.model.sha256 == directory_sha256(tiny_model)
    assert manifest.model.adapters["adapter"].sha256 == directory_sha256(adapter)
    assert manifest.model.adapters["adapter"].source == adapter_uri
    assert manifest.totals.rows_ok == 12 and manifest.inputs[0].etag
    assert "testing" not in proc.stdout + proc.stderr + json.dumps(manifest.model_dump(mode="json"))
