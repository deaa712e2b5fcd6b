"""End to end with real parts: the CLI, local Ray, vLLM on the CPU, a tiny random Llama."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.builders import article_rows, tiny_spec, write_spec, write_table

pytestmark = pytest.mark.slow


def pressroom(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    """Run the CLI in its own process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def mixed_table(path: Path) -> tuple[Path, dict[str, str]]:
    """Good rows plus one row of each bad kind; returns the path and the expected error codes."""
    rows = article_rows(37)
    rows[5]["body"] = " ".join(["overflowing"] * 3000)  # longer than max_model_len
    rows[11]["body"] = None  # the template reads body: a template error for this row only
    rows[20]["body"] = "Ignore {{ 7 * 7 }} and {% raw %}"  # template syntax in data stays inert
    bodies = pa.array([r["body"].encode() if r["body"] else None for r in rows], pa.binary())
    bodies = bodies.to_pylist()
    bodies[23] = b"caf\xe9 au lait \xff"  # Latin-1 bytes in a UTF-8 column
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "title": [r["title"] for r in rows],
            "score": [r["score"] for r in rows],
            "body": pa.array(bodies, pa.binary()).view(pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    expected = {"r0005": "prompt_too_long", "r0011": "template_error", "r0023": "invalid_text"}
    return path, expected


def read_run(manifest_uri: str) -> tuple[dict, pa.Table]:
    manifest = json.loads(Path(manifest_uri).read_text())
    run_dir = Path(manifest_uri).parent
    tables = [pq.read_table(run_dir / entry["path"]) for entry in manifest["files"]]
    return manifest, pa.concat_tables(tables)


def test_cli_run_json_contract_bad_rows_and_checksums(tiny_model, tmp_path):
    input_path, expected_errors = mixed_table(tmp_path / "in" / "articles.parquet")
    spec = write_spec(
        tmp_path / "job.yaml", tiny_spec(model=tiny_model, input_uri=input_path, output_uri=tmp_path / "unused")
    )
    out = tmp_path / "out"

    proc = pressroom("run", str(spec), "--output-uri", str(out), "--run-id", "night-1", "--json")

    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)  # exactly one JSON object on stdout, nothing else
    assert summary["run_id"] == "night-1" and summary["status"] == "succeeded"
    assert summary["manifest_uri"] == str(out / "tiny-summaries" / "runs" / "night-1" / "_manifest.json")
    assert proc.stderr.splitlines()[0] == "run night-1 (job tiny-summaries)"

    manifest, table = read_run(summary["manifest_uri"])
    assert manifest["totals"]["rows_in"] == 37 == table.num_rows
    assert manifest["totals"]["rows_failed"] == 3
    assert manifest["totals"]["rows_ok"] == 34
    assert (manifest["totals"]["rows_generated"], manifest["totals"]["rows_reused"]) == (37, 0)
    assert manifest["errors"] == {"invalid_text": 1, "prompt_too_long": 1, "template_error": 1}
    assert len(manifest["files"]) == 5  # 37 rows, 8 per shard
    for entry in manifest["files"]:
        data = (out / "tiny-summaries" / "runs" / "night-1" / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    assert [f["path"] for f in manifest["files"]] == [f"data/shard-{k:05d}-a1.parquet" for k in range(5)]

    rows = {r["id"]: r for r in table.to_pylist()}
    assert list(rows) == [f"r{i:04d}" for i in range(37)]  # identity and order survive the actors
    for row_id, code in expected_errors.items():
        assert rows[row_id]["error_code"] == code
        assert rows[row_id]["text"] is None and rows[row_id]["error_message"]
    assert rows["r0005"]["num_input_tokens"] > 256
    good = [r for r in rows.values() if r["id"] not in expected_errors]
    assert all(r["num_output_tokens"] == 8 and r["finish_reason"] == "length" for r in good)
    assert all(r["text"] for r in good)
    assert rows["r0020"]["error_code"] is None  # the inert template text rendered as data
    assert [rows[f"r{i:04d}"]["score"] for i in range(37)] == list(range(37))
    assert sum(r["num_output_tokens"] for r in rows.values()) == manifest["totals"]["output_tokens"]
    assert manifest["model"]["sha256"] and manifest["model"]["engine"] == "vllm"
    assert manifest["model"]["engine_version"].startswith("vllm")

    manifest_bytes = Path(summary["manifest_uri"]).read_bytes()
    again = pressroom("run", str(spec), "--output-uri", str(out), "--run-id", "night-1", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["already_committed"] is True
    assert Path(summary["manifest_uri"]).read_bytes() == manifest_bytes

    shown = pressroom("show", summary["manifest_uri"].rsplit("/", 1)[0], "--verify")
    assert shown.returncode == 0 and "verify: ok" in shown.stdout


def test_empty_table_commits_zero_rows_without_loading_a_model(tmp_path):
    schema = pa.schema([("id", pa.string()), ("title", pa.string()), ("score", pa.int64()), ("body", pa.string())])
    empty = write_table(tmp_path / "empty.parquet", [], schema=schema)
    model_dir = tmp_path / "not-a-real-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")  # loading this would fail: proves nothing loads
    spec = write_spec(tmp_path / "job.yaml", tiny_spec(model=model_dir, input_uri=empty, output_uri=tmp_path / "out"))

    proc = pressroom("run", str(spec), "--json")

    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(Path(json.loads(proc.stdout)["manifest_uri"]).read_text())
    assert manifest["totals"]["rows_in"] == 0 and manifest["files"] == []
    assert "ray_start" not in manifest["timings"]


def test_bad_input_fails_fast_with_exit_2_naming_file_and_column(tmp_path):
    table = write_table(tmp_path / "in.parquet", [{"id": "a", "title": "t", "score": 1}])
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    spec = write_spec(tmp_path / "job.yaml", tiny_spec(model=model_dir, input_uri=table, output_uri=tmp_path / "out"))

    proc = pressroom("run", str(spec))

    assert proc.returncode == 2
    assert f"input file {table} has no column 'body' (needed by task.prompt)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_hf_engine_with_lora_adapter_through_ray(tiny_model, tmp_path, ray_session):
    from jobs.run import run_job
    from jobs.spec import load_spec
    from tests.tiny_models import build_lora_adapter

    adapter = build_lora_adapter(tiny_model, tmp_path / "adapter", seed=1, steps=10)
    table = write_table(tmp_path / "in.parquet", article_rows(12))
    spec_dict = tiny_spec(model=tiny_model, input_uri=table, output_uri=tmp_path / "out", engine="hf")
    base = run_job(load_spec(write_spec(tmp_path / "base.yaml", spec_dict)), run_id="base")
    spec_dict["model"]["adapter"] = str(adapter)
    tuned = run_job(load_spec(write_spec(tmp_path / "tuned.yaml", spec_dict)), run_id="tuned")

    base_rows = read_run(base.manifest_uri)[1].to_pylist()
    tuned_manifest, tuned_table = read_run(tuned.manifest_uri)
    tuned_rows = tuned_table.to_pylist()
    assert [r["id"] for r in tuned_rows] == [f"r{i:04d}" for i in range(12)]
    assert all(r["error_code"] is None and r["num_output_tokens"] == 8 for r in tuned_rows)
    assert [r["text"] for r in base_rows] != [r["text"] for r in tuned_rows]
    assert len(tuned_manifest["model"]["adapters"]["adapter"]["sha256"]) == 64
    assert tuned_manifest["model"]["engine"] == "hf"
    assert tuned_manifest["model"]["engine_version"].startswith("transformers")
