"""The bundled default model, SmolLM2-135M-Instruct, on a few rows through the whole job."""

from __future__ import annotations

import re

import pytest

from tests.builders import VLLM_TEST_ARGS, write_spec, write_table

pytestmark = pytest.mark.slow

ARTICLES = [
    {"id": "q3", "body": "Revenue grew 12% in Q3 driven by cloud sales, while hardware revenue fell 4%."},
    {
        "id": "storm",
        "body": "A storm closed the coastal road on Tuesday; crews reopened it after clearing fallen trees.",
    },
    {"id": "match", "body": "The home team won the final 3-1 after two late goals in front of a sold-out stadium."},
]
ENGLISH_WORDS = {"the", "a", "an", "and", "in", "of", "to", "was", "after", "by", "revenue", "team", "road"}


def test_default_model_writes_english_summaries(tmp_path, ray_session):
    from jobs.run import run_job
    from jobs.spec import load_spec

    table = write_table(tmp_path / "in.parquet", ARTICLES)
    spec = load_spec(
        write_spec(
            tmp_path / "job.yaml",
            {
                "name": "default-model",
                "input": {"uri": str(table), "id_column": "id"},
                "task": {"kind": "summary", "prompt": "Summarize in one sentence: {{ body }}"},
                "model": {
                    "source": "default",
                    "max_model_len": 1024,
                    "dtype": "float32",  # vLLM's CPU "auto" is bfloat16: emulated, slow, without AVX-512 BF16
                    "engine_args": VLLM_TEST_ARGS,
                },
                "sampling": {"max_tokens": 40},
                "output": {"uri": str(tmp_path / "out")},
            },
        )
    )

    result = run_job(spec, run_id="smol")

    from pathlib import Path

    import pyarrow.parquet as pq

    rows = pq.read_table(Path(result.manifest_uri).parent / result.manifest.files[0].path).to_pylist()
    assert [r["id"] for r in rows] == ["q3", "storm", "match"]
    for row in rows:
        assert row["error_code"] is None, row["error_message"]
        words = re.findall(r"[a-z]+", row["text"].lower())
        assert len(words) >= 5, row["text"]
        assert ENGLISH_WORDS & set(words), row["text"]
    assert result.manifest.model.source == "default"
    assert result.manifest.model.path.endswith("SmolLM2-135M-Instruct")
    assert len(result.manifest.model.sha256) == 64
