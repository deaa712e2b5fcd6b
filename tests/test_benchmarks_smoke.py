"""The benchmark scripts at their smallest sizes, so they cannot rot (issue 5).

Figures at this size are noise; these tests check that each script runs end to end, prints its
key lines, and ends with a positive, finite `ratio=`. The scaling benchmark's smoke runs in
tests/test_scale_out.py, on that module's multi-node cluster.
"""

from __future__ import annotations

import re

import pytest

from tests.benchmark_scripts import last_ratio, run_script


@pytest.mark.slow
def test_engine_ratio_smoke(tiny_model, tmp_path):
    # --cache-dir: the session's tiny model is `<dir>/tiny-llama`, so --model tiny reuses it.
    lines = run_script(
        "engine_ratio.py",
        "--model",
        "tiny",
        "--cache-dir",
        str(tiny_model.parent),
        "--prompts",
        "16",
        "--max-tokens",
        "8",
        "--pairs",
        "1",
        "--skip-ray-llm",
        "--dtype",
        "float32",
        "--workdir",
        str(tmp_path),
        timeout=420,
    )
    last_ratio(lines)
    text = "\n".join(lines)
    assert "16 chats x 8 tokens" in lines[0]
    for side in ("(a) raw vLLM.chat", "(b) pressroom job", "(c) bare Ray actor"):
        assert re.search(rf"^{re.escape(side)}\s+\d+\.\d", text, re.M), f"no figures for {side}"
    assert "ray.data.llm" not in text
    assert "(b) phases, consecutive" in text and "engine_load" in text and "commit" in text
    # Every side generated exactly 16 x 8 tokens from identically tokenized prompts.
    assert "(identical)" in text
    assert re.search(r"^pair 1/1: raw .* tok/s .* \| job .* tok/s .* \| actor .* tok/s", text, re.M)


def test_pipeline_ceiling_smoke(tmp_path):
    lines = run_script("pipeline_ceiling.py", "--rows", "2000", "--workdir", str(tmp_path), timeout=300)
    last_ratio(lines)
    text = "\n".join(lines)
    assert lines[0].startswith("input: 2000 rows")
    assert re.search(r"^plain process : +[\d,]+ rows/s", text, re.M)
    assert re.search(r"^pressroom job : +[\d,]+ rows/s", text, re.M)
    assert "identical prompt_sha256 sequence on both sides" in text
    assert re.search(r"^ray data floor: +[\d,]+ rows/s", text, re.M)  # the same graph doing none of the work
    assert re.search(r"job driver \d+ MiB", text)
    # The job's 2000 rows were written by the null engine as 2 shards of 1000 rows.
    job_files = sorted(tmp_path.glob("out-job/ceiling/runs/*/data/*.parquet"))
    assert len(job_files) == 2


@pytest.mark.slow
def test_incremental_smoke(tiny_model, tmp_path):
    lines = run_script(
        "incremental.py",
        "--rows",
        "40",
        "--max-tokens",
        "4",
        "--model",
        str(tiny_model),
        "--dtype",
        "float32",
        "--workdir",
        str(tmp_path),
        timeout=420,
    )
    last_ratio(lines)
    text = "\n".join(lines)
    assert re.search(r"^night 1: 40 rows \(0 reused, 40 generated", text, re.M)
    assert re.search(r"^night 2: 41 rows \(39 reused, 2 generated, 2 engine requests\)", text, re.M)
    assert "end to end (process wall" in text and "steady window" in text


def test_ui_pages_smoke():
    lines = run_script("ui_pages.py", "--rows", "2000", timeout=300)
    last_ratio(lines)
    assert lines[0] == "built 2 runs of 2000 rows in " + lines[0].rsplit(" in ", 1)[1]
    names = [line.split("  ")[0] for line in lines[2:-1]]
    assert names == [
        "plain DuckDB page",
        "first page",
        "middle page",
        "last page",
        "error filter",
        "text search",
        "compare (1% changed)",
    ]
