"""Incremental nights, fan-out of identical rows, dry runs and budgets, on real engines.

The nights run the CLI in fresh processes with the tiny Llama on the hf engine; a recording
engine (tests/fault_engine.py) writes down every prompt an engine was asked, so the tests see
exactly which rows were generated rather than inferring it from counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.processes import TAG_VARIABLE, command_line, new_tag, reap

pytestmark = pytest.mark.slow


def pressroom(*args: str, env: dict | None = None, timeout: int = 400) -> subprocess.CompletedProcess:
    tag = new_tag()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {}), TAG_VARIABLE: tag, "HF_HUB_OFFLINE": "1"},
        )
    finally:
        leftovers = reap(tag)
    assert leftovers == [], f"processes left running: {[command_line(p) for p in leftovers]}"
    return done


def night_one_rows() -> list[dict]:
    rows = article_rows(40)
    rows[7]["body"] = None  # fails to render: a template_error row
    rows[9]["body"] = " ".join(["overflowing"] * 400)  # longer than max_model_len: prompt_too_long
    for twin in (30, 31):  # the same prompt as row 20: generated once, fanned out
        rows[twin]["title"], rows[twin]["body"] = rows[20]["title"], rows[20]["body"]
    return rows


def night_two_rows() -> list[dict]:
    rows = night_one_rows()[:38]  # r0038 and r0039 left the input
    for i in (3, 12, 25):
        rows[i]["body"] = f"Edited on night two: item {i} changed its story."
    rows[7]["body"] = "Fixed overnight."  # failed on night one
    rows[1]["score"] = 1001  # a carried column, not in the prompt: reused, with tonight's value
    extra = article_rows(42)[40:]
    return rows + extra


def recorded(directory: Path) -> list[str]:
    prompts = []
    for log in sorted(directory.glob("prompts-*.jsonl")):
        prompts += [json.loads(line) for line in log.read_text().splitlines()]
    return prompts


def prompt_of(row: dict) -> str:
    return f"Summarize: {row['title']}. {row['body']}"


def committed(manifest_uri: str) -> tuple[dict, list[dict]]:
    manifest = json.loads(Path(manifest_uri).read_text())
    rows = []
    for entry in manifest["files"]:
        rows += pq.read_table(Path(manifest_uri).parent / entry["path"]).to_pylist()
    return manifest, rows


@pytest.fixture(scope="module")
def nights(tiny_model, tmp_path_factory):
    """Night one (dry run first), then night two's dry run and run, each a fresh CLI process."""
    root = tmp_path_factory.mktemp("incremental")
    table = root / "in" / "articles.parquet"
    out = root / "out"
    spec = tiny_spec(
        model=tiny_model,
        input_uri=table,
        output_uri=out,
        engine="hf",
        mode="incremental",
        input={"rows_per_shard": 8},
        retention={"keep_runs": 1},
        output={"store_prompts": True},
    )
    spec_path = write_spec(root / "job.yaml", spec)
    found: dict = {"root": root, "spec": spec_path, "out": out, "tiny_model": tiny_model, "spec_dict": spec}
    for night, rows in (("one", night_one_rows()), ("two", night_two_rows())):
        write_table(table, rows)
        dry = pressroom("run", str(spec_path), "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        prompts = root / f"prompts-{night}"
        prompts.mkdir()
        env = {
            "RAY_RUNTIME_ENV_HOOK": "tests.fault_engine.runtime_env_hook",
            "PRESSROOM_TEST_RECORD_PROMPTS": str(prompts),
        }
        done = pressroom("run", str(spec_path), "--json", env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        found[night] = {
            "rows": rows,
            "dry": json.loads(dry.stdout),
            "summary": summary,
            "prompts": recorded(prompts),
            "outputs": committed(summary["manifest_uri"]),
        }
    return found


def test_night_one_generates_identical_rows_once_and_its_dry_run_counted_its_tokens(nights):
    one = nights["one"]
    manifest, rows = one["outputs"]
    # Every row but the one that failed to render and the two twins of row 20 reached the engine, once.
    sent = [prompt_of(r) for i, r in enumerate(one["rows"]) if i not in (7, 30, 31)]
    assert sorted(one["prompts"]) == sorted(sent)
    totals = manifest["totals"]
    assert (totals["rows_in"], totals["rows_generated"], totals["rows_reused"]) == (40, 40, 0)
    assert totals["engine_requests"] == 37 and manifest["reused_from"] is None
    by_id = {r["id"]: r for r in rows}
    assert by_id["r0030"]["text"] == by_id["r0031"]["text"] == by_id["r0020"]["text"] is not None
    assert by_id["r0030"]["generation_key"] == by_id["r0020"]["generation_key"]
    assert by_id["r0007"]["error_code"] == "template_error"
    assert by_id["r0009"]["error_code"] == "prompt_too_long"
    dry = one["dry"]
    assert dry["input_tokens"] == totals["input_tokens"] > 0 and dry["input_tokens_exact"] is True
    assert (dry["rows"], dry["rows_to_generate"], dry["engine_requests"]) == (40, 40, 37)
    assert dry["estimated_output_tokens"] is None and dry["estimated_seconds"] is None  # no history yet


def test_night_two_generates_exactly_the_new_edited_and_failed_rows(nights):
    one, two = nights["one"], nights["two"]
    manifest, rows = two["outputs"]
    changed = {"r0003", "r0012", "r0025", "r0040", "r0041", "r0007", "r0009"}
    assert sorted(two["prompts"]) == sorted(prompt_of(r) for r in two["rows"] if r["id"] in changed)
    totals = manifest["totals"]
    assert (totals["rows_in"], totals["rows_generated"], totals["rows_reused"]) == (40, 7, 33)
    assert totals["rows_in"] == totals["rows_reused"] + totals["rows_generated"]
    assert totals["engine_requests"] == 7
    assert manifest["reused_from"] == one["summary"]["run_id"] and manifest["mode"] == "incremental"
    assert [r["id"] for r in rows] == [r["id"] for r in two["rows"]]  # r0038, r0039 are gone
    night_one = {r["id"]: r for r in one["outputs"][1]}
    for row in rows:
        if row["id"] not in changed:  # copied: tonight's carried columns, night one's text
            before = night_one[row["id"]]
            assert {k: row[k] for k in ("text", "generation_key", "num_output_tokens")} == {
                k: before[k] for k in ("text", "generation_key", "num_output_tokens")
            }
    assert next(r for r in rows if r["id"] == "r0001")["score"] == 1001
    assert next(r for r in rows if r["id"] == "r0007")["error_code"] is None
    # output.store_prompts: generated, copied and fanned-out rows alike carry tonight's rendered prompt.
    for night in (one, two):
        inputs = {r["id"]: r for r in night["rows"]}
        stored = {r["id"]: r["prompt"] for r in night["outputs"][1]}
        expected = {i: prompt_of(r) for i, r in inputs.items() if r["title"] is not None and r["body"] is not None}
        assert {i: p for i, p in stored.items() if p is not None} == expected
    dry = two["dry"]
    assert (dry["rows_to_generate"], dry["rows_reused"], dry["reused_from"]) == (7, 33, one["summary"]["run_id"])
    assert dry["input_tokens"] == totals["input_tokens"]
    per_row = one["outputs"][0]["totals"]["output_tokens"] / 40  # night one's tokens per row
    assert dry["estimated_output_tokens"] == round(7 * per_row)  # x the 7 rows to generate
    assert dry["estimated_seconds"] is not None and dry["history_runs"] == 1


def test_retention_kept_only_the_latest_run(nights):
    runs = sorted(
        p.name for p in (nights["out"] / "tiny-summaries" / "runs").iterdir() if (p / "_manifest.json").exists()
    )
    assert runs == [nights["two"]["summary"]["run_id"]]
    assert not [
        p
        for p in (nights["out"] / "tiny-summaries" / "runs" / nights["one"]["summary"]["run_id"]).rglob("*")
        if p.is_file()
    ]


def test_dry_run_writes_nothing(nights, tmp_path):
    spec = dict(nights["spec_dict"], output={"uri": str(tmp_path / "fresh")})
    done = pressroom("run", str(write_spec(tmp_path / "job.yaml", spec)), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "nothing written" in done.stdout and not (tmp_path / "fresh").exists()


KEY_PARTS = {
    "system prompt": {
        "task": {"kind": "summary", "system": "Answer in one line.", "prompt": "Summarize: {{ title }}. {{ body }}"}
    },
    "template": {"task": {"kind": "summary", "prompt": "Summarize: {{ title }}: {{ body }}"}},
    "temperature": {"sampling": {"temperature": 0.5}},
    "max_tokens": {"sampling": {"max_tokens": 9}},
    "seed": {"sampling": {"seed": 3}},
    "n": {"sampling": {"n": 2}},
    "dtype": {"model": {"dtype": "bfloat16"}},
    "engine_args": {"model": {"engine_args": {"attn_implementation": "eager"}}},
    "max_model_len": {"model": {"max_model_len": 512}},
    "engine": {"model": {"engine": "vllm"}},
}  # the output schema needs the vllm engine: tests/workers/render/test_keys.py covers it, and adapter hashes


def estimate(spec: dict, path: Path):
    from jobs.run import estimate_run
    from jobs.spec import load_spec

    return estimate_run(load_spec(write_spec(path, spec)))


@pytest.mark.parametrize("part", sorted(KEY_PARTS))
def test_every_generation_key_part_regenerates_every_row(nights, tmp_path, part):
    spec = json.loads(json.dumps(nights["spec_dict"]))
    for section, values in KEY_PARTS[part].items():
        spec[section] = {**spec[section], **values}
    assert estimate(spec, tmp_path / "job.yaml").rows_to_generate == 40


def test_unchanged_spec_regenerates_only_the_error_row_and_new_weights_regenerate_all(nights, tmp_path):
    spec = json.loads(json.dumps(nights["spec_dict"]))
    unchanged = estimate(spec, tmp_path / "same.yaml")
    assert (unchanged.rows_to_generate, unchanged.rows_reused) == (1, 39)  # r0009 is still too long
    model = shutil.copytree(nights["tiny_model"], tmp_path / "model")
    (model / "generation_config.json").write_text(json.dumps({"note": "retrained"}))
    spec["model"] = {**spec["model"], "source": str(model)}
    assert estimate(spec, tmp_path / "new-model.yaml").rows_to_generate == 40
    from tests.tiny_models import build_random_lora_adapter

    adapter = build_random_lora_adapter(nights["tiny_model"], tmp_path / "adapter", seed=1)
    spec["model"] = {**nights["spec_dict"]["model"], "adapter": str(adapter)}
    assert estimate(spec, tmp_path / "adapter.yaml").rows_to_generate == 40


def test_a_budget_stops_the_run_and_a_raised_budget_resumes_it(tiny_model, tmp_path, ray_session):
    from jobs.errors import JobError
    from jobs.run import BudgetExceeded, run_job
    from jobs.spec import load_spec
    from jobs.state import RunLayout, read_latest, read_manifest, read_shard_records, read_state
    from workers.io import LocalStorage

    table = write_table(tmp_path / "in.parquet", article_rows(40))
    base = tiny_spec(
        model=tiny_model, input_uri=table, output_uri=tmp_path / "out", engine="hf", input={"rows_per_shard": 8}
    )
    spec = load_spec(write_spec(tmp_path / "job.yaml", {**base, "budget": {"max_rows": 20}}))
    with pytest.raises(BudgetExceeded) as stopped:
        run_job(spec, run_id="night")
    message = str(stopped.value)
    assert "budget.max_rows 20" in message and "\n" not in message and isinstance(stopped.value, JobError)
    assert stopped.value.exit_code == 1
    storage, layout = LocalStorage(), RunLayout(output_uri=str(tmp_path / "out"), job=spec.name, run_id="night")
    current = read_state(storage, layout)
    assert (current.state, current.reason) == ("failed", "budget")
    assert read_manifest(storage, layout) is None and read_latest(storage, layout) is None
    assert sorted(read_shard_records(storage, layout)) == [0, 1]  # 16 rows fit, the third shard would not

    raised = load_spec(write_spec(tmp_path / "job.yaml", {**base, "budget": {"max_rows": 40}}))
    manifest = run_job(raised, run_id="night").manifest
    assert (manifest.totals.rows_reused, manifest.totals.rows_generated, manifest.totals.rows_in) == (16, 24, 40)
    assert read_latest(storage, layout) == "night"

    tokens = load_spec(write_spec(tmp_path / "tokens.yaml", {**base, "budget": {"max_output_tokens": 100}}))
    with pytest.raises(BudgetExceeded, match="budget.max_output_tokens 100"):
        run_job(tokens, run_id="tokens")  # every row makes 8 tokens: one shard (64) fits, two do not
    records = read_shard_records(storage, RunLayout(output_uri=str(tmp_path / "out"), job=spec.name, run_id="tokens"))
    assert len(records) == 1 and sum(r.work.output_tokens_generated for r in records.values()) == 64
