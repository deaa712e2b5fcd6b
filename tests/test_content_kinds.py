"""Content kinds through the whole job on real engines: structured labels, n samples, and
several LoRA adapters chosen per row in one job."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.builders import VLLM_TEST_ARGS, article_rows, committed_outputs, tiny_spec, write_spec, write_table

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
LABEL_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]},
        "topic": {
            "type": "string",
            "enum": ["earnings", "mergers", "markets", "macro", "regulation", "products", "management"],
        },
    },
    "required": ["sentiment", "topic"],
    "additionalProperties": False,
}


def test_structured_labels_land_as_typed_columns_with_accuracy(tiny_model, tmp_path, ray_session):
    from jobs.run import run_job
    from jobs.spec import load_spec

    headlines = pq.read_table(REPO / "examples" / "data" / "headlines.parquet").slice(0, 12)
    pq.write_table(headlines, tmp_path / "headlines.parquet")
    spec = load_spec(
        write_spec(
            tmp_path / "job.yaml",
            {
                "name": "labels",
                "input": {
                    "uri": str(tmp_path / "headlines.parquet"),
                    "id_column": "headline_id",
                    "columns": ["headline"],
                },
                "task": {
                    "kind": "label",
                    "prompt": "Label this headline: {{ headline }}",
                    "output_schema": LABEL_SCHEMA,
                    "reference_columns": {"sentiment": "sentiment", "topic": "topic"},
                },
                "model": {
                    "source": str(tiny_model),
                    "max_model_len": 256,
                    "dtype": "float32",
                    "engine_args": VLLM_TEST_ARGS,
                },
                "sampling": {"max_tokens": 48},
                "output": {"uri": str(tmp_path / "out")},
            },
        )
    )

    manifest, rows = committed_outputs(run_job(spec, run_id="labels"))

    assert [r["headline_id"] for r in rows] == headlines.column("headline_id").to_pylist()
    schema = pq.read_schema(next((tmp_path / "out").rglob("shard-*.parquet")))
    assert str(schema.field("out_sentiment").type) == "string" and "sentiment" in schema.names
    valid = [r for r in rows if r["error_code"] is None]
    assert valid, "the grammar should let at least some rows finish as valid JSON"
    for row in rows:
        if row["error_code"] is None:
            assert json.loads(row["text"]) == {"sentiment": row["out_sentiment"], "topic": row["out_topic"]}
            assert row["out_sentiment"] in LABEL_SCHEMA["properties"]["sentiment"]["enum"]
        else:  # cut off by max_tokens, or otherwise invalid: kept as an error row, never dropped
            assert row["error_code"] == "invalid_structured_output" and row["out_sentiment"] is None
    for field in ("sentiment", "topic"):
        quality = manifest["quality"][field]
        correct = sum(r[f"out_{field}"] == r[field] for r in rows)
        assert (quality["correct"], quality["total"], quality["reference_column"]) == (correct, 12, field)
        assert quality["accuracy"] == round(correct / 12, 4)


def test_n_samples_are_keyed_and_reproducible_with_a_seed(tiny_model, tmp_path, ray_session):
    from jobs.run import run_job
    from jobs.spec import load_spec

    table = write_table(tmp_path / "in.parquet", article_rows(6))
    spec_dict = tiny_spec(
        model=tiny_model,
        input_uri=table,
        output_uri=tmp_path / "out",
        sampling={"n": 3, "seed": 7, "temperature": 1.0, "max_tokens": 6},
    )
    spec = load_spec(write_spec(tmp_path / "job.yaml", spec_dict))

    first_manifest, first = committed_outputs(run_job(spec, run_id="one"))
    _, second = committed_outputs(run_job(spec, run_id="two"))

    assert [(r["id"], r["sample_index"]) for r in first] == [(f"r{i:04d}", j) for i in range(6) for j in range(3)]
    assert [r["text"] for r in first] == [r["text"] for r in second]  # same seed, same text
    texts_per_row = [{r["text"] for r in first if r["id"] == f"r{i:04d}"} for i in range(6)]
    assert any(len(texts) > 1 for texts in texts_per_row)  # the samples differ from each other
    totals = first_manifest["totals"]
    assert (totals["rows_in"], totals["outputs"], totals["rows_ok"]) == (6, 18, 6)
    assert (totals["rows_generated"], totals["rows_reused"]) == (6, 0)
    assert totals["output_tokens"] == 18 * 6
    # Prompt tokens count once per input row, not once per sample.
    prompt_tokens = [r["num_input_tokens"] for r in first if r["sample_index"] == 0]
    assert totals["input_tokens"] == sum(prompt_tokens) == sum(r["num_input_tokens"] for r in first) // 3 > 0


def test_rows_route_to_their_adapter_and_match_transformers_peft(tiny_model, tmp_path, ray_session):
    from jobs.run import run_job
    from jobs.spec import load_spec
    from tests.tiny_models import build_random_lora_adapter
    from workers.engines import EngineConfig, Request, build_engine, generate_checked

    adapters = {
        name: build_random_lora_adapter(tiny_model, tmp_path / name, seed=seed) for name, seed in (("a", 1), ("b", 2))
    }
    rows = article_rows(9)
    for i, row in enumerate(rows):
        row["adapter"] = ["a", "b", None][i % 3]
    table = write_table(tmp_path / "in.parquet", rows)
    spec_dict = tiny_spec(model=tiny_model, input_uri=table, output_uri=tmp_path / "out")
    spec_dict["model"].update(
        dtype="float32", adapters={k: str(v) for k, v in adapters.items()}, adapter_column="adapter"
    )
    spec = load_spec(write_spec(tmp_path / "job.yaml", spec_dict))

    manifest, outputs = committed_outputs(run_job(spec, run_id="routed"))

    reference = build_engine(
        "hf",
        EngineConfig(
            model_path=str(tiny_model),
            model_name="tiny",
            adapters={k: str(v) for k, v in adapters.items()},
            max_model_len=256,
            dtype="float32",
            sampling=dict(spec.sampling.model_dump()),
        ),
    )
    reference.load()
    try:
        expected = generate_checked(
            reference,
            [
                Request.from_prompt(spec.task.system, f"Summarize: {r['title']}. {r['body']}", r["adapter"])
                for r in rows
            ],
        )
    finally:
        reference.close()
    assert [o["id"] for o in outputs] == [r["id"] for r in rows]
    for output, want in zip(outputs, expected, strict=True):
        assert output["num_output_tokens"] == want.num_output_tokens == 8
        assert output["text"].rstrip("\ufffd") == want.text.rstrip("\ufffd"), output["id"]
    by_adapter = {
        name: [o["text"] for o, r in zip(outputs, rows, strict=True) if r["adapter"] == name]
        for name in ("a", "b", None)
    }
    assert len({tuple(texts) for texts in by_adapter.values()}) == 3  # each route gives its own text
    assert set(manifest["model"]["adapters"]) == {"a", "b"} and manifest["model"]["adapter_column"] == "adapter"
