"""Shared, expensive fixtures: one tiny model per test run, one local Ray per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.ray_head import ray_head  # noqa: F401  (shared fixture)
from tests.s3 import faulty_s3, s3_bucket, s3_server  # noqa: F401  (shared fixtures)

# Hub access fails here and in CI; every engine must load from local directories.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

# vLLM on the CPU in tests: fast start-up matters more than throughput.
VLLM_TEST_ARGS = {"enforce_eager": True, "gpu_memory_utilization": 0.3}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama with a local BPE tokenizer and chat template (built once)."""
    from tests.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the in-process job tests; jobs see it running and leave it up."""
    from jobs.run.pipeline import init_ray, shutdown_ray

    started = init_ray(verbose=False)
    yield
    if started:
        shutdown_ray()


def committed_outputs(result) -> tuple[dict, list[dict]]:
    """A run_job result's manifest (as JSON) and the rows of every file it lists, in order."""
    run_dir = Path(result.manifest_uri).parent
    manifest = json.loads(Path(result.manifest_uri).read_text())
    rows = []
    for entry in manifest["files"]:
        rows += pq.read_table(run_dir / entry["path"]).to_pylist()
    return manifest, rows


def write_table(path: Path, rows: list[dict], *, schema: pa.Schema | None = None) -> Path:
    """Write rows to a Parquet file (creating parent directories)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def write_spec(path: Path, spec: dict) -> Path:
    """Write a job spec dict as YAML."""
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def article_rows(count: int) -> list[dict]:
    """Deterministic short prompt rows with an id, a title and a body."""
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


def tiny_spec(*, model: Path, input_uri: Path, output_uri: Path, engine: str = "vllm", **overrides) -> dict:
    """A summary job over article_rows on the tiny model."""
    spec = {
        "name": "tiny-summaries",
        "input": {"uri": str(input_uri), "id_column": "id", "columns": ["title", "score"], "rows_per_shard": 8},
        "task": {"kind": "summary", "prompt": "Summarize: {{ title }}. {{ body }}"},
        "model": {
            "engine": engine,
            "source": str(model),
            "max_model_len": 256,
            "engine_args": dict(VLLM_TEST_ARGS) if engine == "vllm" else {},
        },
        "sampling": {"temperature": 0.0, "max_tokens": 8, "ignore_eos": True},
        "output": {"uri": str(output_uri)},
        "resources": {"replicas": 1, "batch_size": 16},
    }
    for key, value in overrides.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return spec
