"""Quality scores and the publish gate on a real engine run (the tiny Llama on the hf engine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import article_rows, committed_outputs, tiny_spec, write_spec, write_table
from tests.processes import TAG_VARIABLE, command_line, new_tag, reap
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.slow

REFERENCES = [
    "The council approved the budget.",
    "市议会批准了预算。",
    "AI 模型在 Beijing 发布",
    None,
    "今日は雨が降りました",
    "Прогноз погоды на завтра",
]


def job(tiny_model: Path, tmp_path: Path, **overrides) -> dict:
    rows = article_rows(len(REFERENCES) + 1)
    for row, reference in zip(rows, REFERENCES + ["unused"], strict=False):
        row["reference"] = reference
    rows[-1]["body"] = None  # a template_error row: no score
    table = write_table(tmp_path / "in.parquet", rows)
    return tiny_spec(
        model=tiny_model,
        input_uri=table,
        output_uri=tmp_path / "out",
        engine="hf",
        **{"quality": {"reference_column": "reference"}, **overrides},
    )


def test_rows_are_scored_against_tonights_reference_and_identical_pairs_score_full_marks(tiny_model, tmp_path,
                                                                                         ray_session):  # fmt: skip
    """Night 1 scores each ok row against its reference (nulls where there is no score). Night 2
    copies every row (incremental) and scores it again against tonight's reference, which is
    night 1's own text: an identical pair scores ROUGE-L 1.0 and chrF 1.0 (every score on 0..1), by hand."""
    import pyarrow.parquet as pq

    from jobs.run import run_job
    from jobs.spec import load_spec

    spec = job(tiny_model, tmp_path, mode="incremental")
    manifest, rows = committed_outputs(run_job(load_spec(write_spec(tmp_path / "job.yaml", spec)), run_id="scored"))
    assert "reference" not in rows[0]  # scored against it, not carried (it is not in input.columns)
    for row, reference in zip(rows, REFERENCES + ["unused"], strict=False):
        for metric in ("rouge_l", "bleu", "chrf"):
            value = row[f"score_{metric}"]
            assert (value is None) == (row["error_code"] is not None or reference is None), (row["id"], metric)
            assert value is None or 0 <= value <= 1
    for metric in ("rouge_l", "bleu", "chrf"):
        values = [r[f"score_{metric}"] for r in rows if r[f"score_{metric}"] is not None]
        assert manifest["scores"][metric] == {"mean": round(sum(values) / len(values), 4), "scored": len(values)}
    assert "pressroom tokens" in manifest["score_tokenization"]["rouge_l"]
    assert manifest["scores"]["rouge_l"]["scored"] == 5 and manifest["state"] == "succeeded"

    texts = {r["id"]: r["text"] for r in rows}
    table = pq.read_table(tmp_path / "in.parquet").to_pylist()
    for row in table:  # tonight's reference: night 1's own text (the one without a reference keeps none)
        row["reference"] = texts[row["id"]] if row["reference"] is not None else None
    write_table(tmp_path / "in.parquet", table)
    again, copied = committed_outputs(run_job(load_spec(tmp_path / "job.yaml"), run_id="rescored"))
    totals = again["totals"]  # the template error row is generated again, and fails again without an engine
    assert (totals["rows_reused"], totals["rows_generated"], totals["engine_requests"]) == (len(rows) - 1, 1, 0)
    ok = [r for r in copied if r["score_rouge_l"] is not None]
    assert len(ok) == 5 and {(r["score_rouge_l"], r["score_chrf"]) for r in ok} == {(1.0, 1.0)}
    assert again["scores"]["rouge_l"] == {"mean": 1.0, "scored": 5} and again["scores"]["chrf"]["mean"] == 1.0


def test_a_missed_gate_commits_rejected_keeps_latest_and_says_so(tiny_model, tmp_path):
    with webhook_receiver() as (url, received):
        first = write_spec(tmp_path / "first.yaml", job(tiny_model, tmp_path))
        gated = write_spec(
            tmp_path / "gated.yaml",
            job(
                tiny_model,
                tmp_path,
                quality={"reference_column": "reference", "gate": {"min_rouge_l": 0.99}},
                notify={"webhook": url},
            ),
        )
        tag = new_tag()
        env = {**os.environ, TAG_VARIABLE: tag, "HF_HUB_OFFLINE": "1"}
        try:
            done = [
                subprocess.run(
                    [sys.executable, "-m", "jobs.cli", "run", str(spec), "--run-id", run_id],
                    capture_output=True,
                    text=True,
                    timeout=400,
                    env=env,
                )
                for spec, run_id in ((first, "night-1"), (gated, "night-2"))
            ]
        finally:
            leftovers = reap(tag)
        assert leftovers == [], [command_line(p) for p in leftovers]
    assert done[0].returncode == 0, done[0].stderr[-2000:]
    assert done[1].returncode == 1, done[1].stderr[-2000:]
    last = done[1].stderr.strip().splitlines()[-1]
    assert last.startswith("error: run night-2 rejected by quality.gate") and "< min_rouge_l 0.99" in last
    job_dir = tmp_path / "out" / "tiny-summaries"
    manifest = json.loads((job_dir / "runs" / "night-2" / "_manifest.json").read_text())
    assert (manifest["state"], manifest["status"]) == ("rejected", "rejected")
    assert manifest["rejected_because"] and "min_rouge_l" in manifest["rejected_because"][0]
    assert json.loads((job_dir / "latest").read_text())["run_id"] == "night-1"
    assert json.loads((job_dir / "runs" / "night-2" / "_state.json").read_text())["state"] == "rejected"
    events = [json.loads(body) for _, body in received.accepted]
    assert [(e["run_id"], e["state"]) for e in events] == [("night-2", "rejected")]
    from jobs.query import connect

    con = connect(str(tmp_path / "out"))
    assert con.sql("SELECT run_id, state FROM runs ORDER BY run_id").fetchall() == [
        ("night-1", "succeeded"),
        ("night-2", "rejected"),
    ]
    assert con.sql("SELECT DISTINCT run_id FROM latest").fetchall() == [("night-1",)]


LABELS = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]},
        "topic": {"type": "string"},
    },
    "required": ["sentiment", "topic"],
    "additionalProperties": False,
}


def test_retry_regenerates_exactly_the_retryable_failed_rows(tiny_model, tmp_path, ray_session):
    from jobs.run import RunOptions, run_job
    from jobs.spec import load_spec
    from jobs.state import RunLayout, read_latest
    from workers.io import LocalStorage

    rows = article_rows(14)
    rows[3]["body"] = None  # template_error: bad input, not retryable
    rows[5]["body"] = " ".join(["overflowing"] * 400)  # prompt_too_long: not retryable
    table = write_table(tmp_path / "in.parquet", rows)
    spec = load_spec(
        write_spec(
            tmp_path / "job.yaml",
            tiny_spec(
                model=tiny_model,
                input_uri=table,
                output_uri=tmp_path / "out",
                task={"kind": "label", "prompt": "Label: {{ title }}. {{ body }}", "output_schema": LABELS},
                sampling={"max_tokens": 24, "ignore_eos": False},
            ),
        )
    )
    _, first = committed_outputs(run_job(spec, run_id="night"))
    codes = {r["id"]: r["error_code"] for r in first}
    retryable = sorted(i for i, c in codes.items() if c == "invalid_structured_output")
    assert codes["r0003"] == "template_error" and codes["r0005"] == "prompt_too_long"
    assert retryable, "a 24-token budget should cut some JSON short on the tiny model"

    manifest, second = committed_outputs(run_job(spec, run_id="night-retry", options=RunOptions(retry_of="night")))
    totals = manifest["totals"]
    assert totals["rows_generated"] == totals["engine_requests"] == len(retryable)
    assert totals["rows_reused"] == 14 - len(retryable)
    assert manifest["retry_of"] == "night" and manifest["reused_from"] == "night"
    kept = {r["id"]: r for r in second}
    for row in first:
        if row["id"] not in retryable:  # copied as it was, error rows included
            assert (kept[row["id"]]["text"], kept[row["id"]]["error_code"]) == (row["text"], row["error_code"])
    storage = LocalStorage()
    assert (
        read_latest(storage, RunLayout(output_uri=str(tmp_path / "out"), job=spec.name, run_id="x")) == "night-retry"
    )  # the original was the latest
