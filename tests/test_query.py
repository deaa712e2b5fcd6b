"""Querying committed outputs: views over manifests only, lineage, diffs, the CLI's formats, on
local disk and on a real S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.query import connect, diff_runs, open_run, run_batches
from jobs.state import RunLayout, commit_manifest, write_shard
from schemas.manifest import Shard, Totals
from schemas.tally import TallyColumns, sum_records
from tests.builders import make_manifest, output_table
from workers.io import storage_for

REPO = Path(__file__).resolve().parent.parent
JOB = "nightly"


def commit_run(
    out: str,
    run_id: str,
    ids: list[str],
    *,
    errors=None,
    texts=None,
    extra: dict | None = None,
    finished_at: str = "2026-12-01T02:00:00+00:00",
    job: str = JOB,
    sampling: dict | None = None,
):
    """A committed run of `ids` (two shards), built with the run-state writer itself; every ok row
    stopped at max_tokens (finish_reason length), as make_manifest's sampling (ignore_eos) asks."""
    storage = storage_for(out)
    layout = RunLayout(output_uri=out, job=job, run_id=run_id)
    table = output_table(ids, errors=errors)
    if texts:
        table = table.set_column(
            table.schema.get_field_index("text"),
            "text",
            pa.array([texts.get(i, t) for i, t in zip(ids, table.column("text").to_pylist(), strict=True)]),
        )
    for name, values in (extra or {}).items():
        table = table.append_column(name, pa.array(values))
    half = len(ids) // 2
    records = [
        write_shard(
            storage,
            layout,
            Shard(index=k, input_file="/data/in.parquet", row_start=bounds[0], row_end=bounds[1]),
            table.slice(bounds[0], bounds[1] - bounds[0]),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        )
        for k, bounds in enumerate([(0, half), (half, len(ids))])
    ]
    manifest = make_manifest(layout, records, finished_at=finished_at)
    totals, errs, _ = sum_records(records, references={})
    manifest = manifest.model_copy(
        update={
            "totals": Totals(**totals, rows_generated=totals["rows_in"]),
            "errors": errs,
            "id_column": "id",
            "sampling": {**manifest.sampling, **(sampling or {})},
        }
    )
    commit_manifest(storage, layout, manifest)
    return manifest


def uncommitted_run(out: str, run_id: str, ids: list[str]) -> None:
    """Shards and records written, no manifest: a running or abandoned run."""
    storage = storage_for(out)
    layout = RunLayout(output_uri=out, job=JOB, run_id=run_id)
    write_shard(
        storage,
        layout,
        Shard(index=0, input_file="/data/in.parquet", row_start=0, row_end=len(ids)),
        output_table(ids),
        columns=TallyColumns(id_column="id"),
        attempt=1,
    )


def two_nights(out: str):
    first = [f"r{i:04d}" for i in range(8)]
    one = commit_run(out, "night-1", first, errors={"r0003": "engine_error"}, finished_at="2026-12-01T02:00:00+00:00")
    # Night 2: r0000 removed, r0008 and r0009 added, r0002's text edited, and a new column.
    second = first[1:] + ["r0008", "r0009"]
    two = commit_run(
        out,
        "night-2",
        second,
        texts={"r0002": "A rewritten summary."},
        extra={"category": [f"c{i % 2}" for i in range(len(second))]},
        finished_at="2026-12-02T02:00:00+00:00",
    )
    uncommitted_run(out, "night-3", ["r0100", "r0101"])
    # A stray file inside a committed run that its manifest does not list.
    storage_for(out).write_bytes(
        f"{RunLayout(output_uri=out, job=JOB, run_id='night-2').data_dir}/stray.parquet",
        (REPO / "examples" / "data" / "headlines.parquet").read_bytes(),
    )
    return one, two


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/out"


def test_views_read_committed_files_only_and_match_the_manifests(root):
    one, two = two_nights(root)
    con = connect(root)
    per_run = con.sql(
        "SELECT run_id, count(*), sum(num_output_tokens), sum(num_input_tokens), "
        "count(DISTINCT id) FROM outputs GROUP BY run_id ORDER BY run_id"
    ).fetchall()
    assert per_run == [
        (m.run_id, m.totals.outputs, m.totals.output_tokens, m.totals.input_tokens, m.totals.rows_in)
        for m in (one, two)
    ]
    assert con.sql("SELECT count(*) FROM outputs WHERE run_id = 'night-3' OR id LIKE 'r01%'").fetchall() == [(0,)]
    columns = [c[0] for c in con.sql("DESCRIBE outputs").fetchall()]
    assert "headline" not in columns and columns[:3] == ["job", "run_id", "row_id"]  # the stray file is not read
    assert con.sql("SELECT DISTINCT run_id FROM latest").fetchall() == [("night-2",)]
    assert con.sql("SELECT count(*), min(error_code) FROM errors").fetchall() == [
        (one.totals.outputs_failed, "engine_error")
    ]
    # night 2 added a column: the union keeps it, night 1 reads NULL there
    assert con.sql("SELECT run_id, count(category) FROM outputs GROUP BY run_id ORDER BY run_id").fetchall() == [
        ("night-1", 0),
        ("night-2", 9),
    ]
    runs = con.sql(
        "SELECT run_id, state, rows_in, outputs_failed, model_sha256, engine, template_sha256 FROM runs ORDER BY run_id"
    ).fetchall()
    assert [r[:4] for r in runs] == [("night-1", "succeeded", 8, 1), ("night-2", "succeeded", 9, 0)]
    assert all(r[4] == one.model.sha256 and r[5] == "vllm" and len(r[6]) == 64 for r in runs)
    # lineage: every output row joins to its run
    joined = con.sql(
        "SELECT r.engine_version, count(*) FROM outputs o JOIN runs r USING (job, run_id) GROUP BY ALL"
    ).fetchall()
    assert joined == [(one.model.engine_version, 17)]


def test_diff_lists_adds_removals_and_edits_with_counts_first(root):
    two_nights(root)
    diff = diff_runs(root, JOB, "night-1", "latest")
    assert diff.run_b == "night-2"
    assert diff.counts == {"added": 2, "removed": 1, "changed": 2}  # r0002 edited, r0003 was an error (no text)
    assert [(r["change"], r["row_id"]) for r in diff.rows] == [
        ("added", "r0008"),
        ("added", "r0009"),
        ("changed", "r0002"),
        ("changed", "r0003"),
        ("removed", "r0000"),
    ]
    edited = next(r for r in diff.rows if r["row_id"] == "r0002")
    assert (edited["text_a"], edited["text_b"]) == ("Summary of r0002.", "A rewritten summary.")


def test_the_python_api_opens_a_run_and_streams_it(root):
    one, two = two_nights(root)
    table = open_run(root, JOB, verify=True)
    assert table.num_rows == two.totals.outputs and "category" in table.column_names
    batches = run_batches(root, JOB, "night-1", columns=["id", "text"])
    assert sum(b.num_rows for b in batches) == one.totals.outputs
    with pytest.raises(Exception, match="no committed run nightly/night-3"):
        open_run(root, JOB, "night-3")


def cli(*args: str) -> subprocess.CompletedProcess:
    return cli_env({}, *args)


def test_cli_json_is_one_array_and_other_formats_work(tmp_path):
    out = str(tmp_path / "out")
    two_nights(out)
    done = cli("query", "SELECT id, text FROM latest ORDER BY id LIMIT 3", "--output-uri", out, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        {"id": f"r{i:04d}", "text": f"Summary of r{i:04d}."}
        if i != 2
        else {"id": "r0002", "text": "A rewritten summary."}
        for i in (1, 2, 3)
    ]
    empty = cli("query", "SELECT * FROM errors WHERE run_id = 'night-2'", "--output-uri", out, "--format", "json")
    assert empty.stdout == "[]\n"
    csv = cli(
        "query",
        "SELECT run_id, count(*) AS n FROM outputs GROUP BY 1 ORDER BY 1",
        "--output-uri",
        out,
        "--format",
        "csv",
    )
    assert csv.stdout.splitlines() == ['"run_id","n"', '"night-1",8', '"night-2",9']
    parquet = cli(
        "query",
        "SELECT * FROM outputs",
        "--output-uri",
        out,
        "--job",
        JOB,
        "--format",
        "parquet",
        "--out",
        str(tmp_path / "all.parquet"),
    )
    assert parquet.returncode == 0 and pa.parquet.read_table(tmp_path / "all.parquet").num_rows == 17
    table = cli("query", "SELECT count(*) AS n FROM runs", "--output-uri", out)
    assert table.stdout.splitlines()[-1] == "1 row(s)" and table.stdout.splitlines()[2].strip() == "2"
    bad = cli("query", "SELECT * FROM nowhere", "--output-uri", out)
    assert bad.returncode == 2 and bad.stderr.startswith("error: query failed: Catalog Error")
    diff = cli("diff", f"{JOB}/night-1", f"{JOB}/night-2", "--output-uri", out, "--json")
    assert json.loads(diff.stdout)["counts"] == {"added": 2, "removed": 1, "changed": 2}


def test_an_empty_root_has_empty_views(tmp_path):
    con = connect(str(tmp_path / "nothing"))
    for view in ("outputs", "latest", "errors", "runs"):
        assert con.sql(f"SELECT count(*) FROM {view}").fetchall() == [(0,)]


def test_query_diff_and_the_api_never_import_torch_or_vllm(tmp_path):
    out = str(tmp_path / "out")
    two_nights(out)
    code = (
        "import sys\n"
        "from jobs.cli.main import main\n"
        f"assert main(['query', 'SELECT count(*) FROM outputs', '--output-uri', {out!r}]) == 0\n"
        f"assert main(['diff', 'nightly/night-1', 'nightly/night-2', '--output-uri', {out!r}]) == 0\n"
        "from jobs.query import open_run\n"
        f"open_run({out!r}, 'nightly')\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'vllm', 'transformers'))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]


# No silent wrong answers (issue 32): a typo or a run that is not there is exit 2 naming what is.


def test_the_changes_macro_reads_latest_and_refuses_a_run_that_is_not_committed(tmp_path):
    import duckdb

    out = str(tmp_path / "out")
    two_nights(out)
    con = connect(out)
    by_name = "SELECT change, count(*) FROM changes('nightly', 'night-1', {}) GROUP BY change ORDER BY change"
    # Hand-counted in two_nights: r0008, r0009 added; r0000 removed; r0002 edited, r0003 gained a text.
    expected = [("added", 2), ("changed", 2), ("removed", 1)]
    assert con.sql(by_name.format("'night-2'")).fetchall() == expected
    assert con.sql(by_name.format("'latest'")).fetchall() == expected  # was "removed 8": latest read as a run id
    for missing in ("'night-3'", "'night-9'"):  # uncommitted, and never there
        with pytest.raises(duckdb.InvalidInputException, match=r"no committed run nightly/night-\d .*night-1, night-2"):
            con.sql(by_name.format(missing)).fetchall()
    with pytest.raises(duckdb.InvalidInputException, match="no committed run nightly-sumaries/night-1"):
        con.sql("SELECT * FROM changes('nightly-sumaries', 'night-1', 'night-2')").fetchall()
    done = cli("query", "SELECT * FROM changes('nightly', 'night-1', 'night-9')", "--output-uri", out)
    assert done.returncode == 2 and "no committed run nightly/night-9" in done.stderr and done.stdout == ""


def test_an_unknown_job_or_run_is_exit_2_naming_the_close_matches(tmp_path):
    out = str(tmp_path / "out")
    two_nights(out)
    root = ["--output-uri", out]
    cases = {
        ("query", "SELECT count(*) FROM outputs", "--job", "nightlyy"): "no job nightlyy under",
        ("runs", "nightlyy"): "no job nightlyy under",
        ("status", "nightlyy/night-1"): "no run nightlyy/night-1: no job nightlyy under",
        ("status", "nightly/night-11"): "no run nightly/night-11 under",
        ("schedule", "list", "nightlyy"): "no job nightlyy under",
        ("diff", "nightly/night-1", "nightly/night-9"): "no committed run nightly/night-9 under",
    }
    for args, message in cases.items():
        done = cli(*args, *root)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr and "did you mean nightly" in done.stderr, (args, done.stderr)
        assert done.stdout == "", args
    with pytest.raises(Exception, match="no job nightlyy under .*did you mean nightly?"):
        open_run(out, "nightlyy")
    # A job that is there but has no schedule seen says so, not "active".
    listed = cli("schedule", "list", "nightly", *root)
    assert listed.returncode == 0 and "no slot claimed yet" in listed.stdout
    far = cli("runs", "weekly-digest", *root)
    assert far.returncode == 2 and "jobs there: nightly" in far.stderr


def test_a_run_written_when_bleu_and_chrf_were_0_to_100_reads_on_0_to_1(tmp_path):
    import json as js

    from jobs import state

    out = str(tmp_path / "out")
    storage = storage_for(out)
    layout = RunLayout(output_uri=out, job=JOB, run_id="old-night")
    table = output_table(["r0000", "r0001"])
    table = table.append_column("score_rouge_l", pa.array([0.5, 0.25])).append_column(
        "score_bleu",
        pa.array([40.0, 20.0]),  # sacrebleu's scale, as pressroom stored BLEU before score_scale
    )
    shard = Shard(index=0, input_file="/data/articles.parquet", row_start=0, row_end=2)
    record = write_shard(storage, layout, shard, table, columns=TallyColumns(id_column="id"), attempt=1)
    commit_manifest(storage, layout, make_manifest(layout, [record]))
    # As an earlier pressroom wrote them: no score_scale, BLEU's mean and sum on 0..100.
    for uri, scores in (
        (layout.shard_record(0), None),
        (layout.manifest, {"rouge_l": {"mean": 0.375, "scored": 2}, "bleu": {"mean": 30.0, "scored": 2}}),
    ):
        stored = js.loads(storage.read_bytes(uri))
        stored.pop("score_scale")
        stored["scores"] = scores or stored["scores"]
        Path(uri).write_text(js.dumps(stored))

    assert state.read_shard_records(storage, layout)[0].scores["bleu"].total == pytest.approx(0.6)
    assert state.read_shard_records(storage, layout)[0].scores["rouge_l"].total == pytest.approx(0.75)
    manifest = state.read_manifest(storage, layout)
    assert manifest.score_scale == "0-1" and manifest.percent_score_columns == ("score_bleu",)
    assert (manifest.scores["bleu"].mean, manifest.scores["rouge_l"].mean) == (0.3, 0.375)
    rows = connect(out).sql("SELECT row_id, score_rouge_l, score_bleu FROM outputs ORDER BY row_id").fetchall()
    assert rows == [("r0000", 0.5, 0.4), ("r0001", 0.25, 0.2)]


def test_every_command_names_a_run_as_job_slash_run_job_slash_latest_or_job(tmp_path):
    out = str(tmp_path / "out")
    two_nights(out)
    env_root = {"PRESSROOM_OUTPUT_URI": out}
    for target in ("nightly", "nightly/latest", "nightly/night-2"):
        status = cli_env(env_root, "status", target, "--json")
        assert status.returncode == 0, status.stderr
        assert (json.loads(status.stdout)["run_id"], json.loads(status.stdout)["state"]) == ("night-2", "succeeded")
        shown = cli_env(env_root, "show", target, "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["run_id"] == "night-2", shown.stderr
    diff = cli_env(env_root, "diff", "nightly/night-1", "nightly", "--json")
    assert json.loads(diff.stdout)["counts"] == {"added": 2, "removed": 1, "changed": 2}  # as in two_nights
    # gc finds the root as every command does, and a typo is not "nothing to delete"
    assert cli_env(env_root, "gc", "nightly", "--dry-run", "--json").returncode == 0
    typo = cli_env(env_root, "gc", "nightlyy", "--dry-run")
    assert typo.returncode == 2 and "did you mean nightly?" in typo.stderr
    never = cli_env(env_root, "status", "weekly")
    assert never.returncode == 2 and "no job weekly" in never.stderr


def test_latest_is_no_run_id_a_user_may_choose(tmp_path):
    from tests.builders import write_job

    spec = write_job(tmp_path / "job", rows=4)
    done = cli("run", str(spec), "--run-id", "latest")
    assert done.returncode == 2 and "run id 'latest' names the job's latest run" in done.stderr


def cli_env(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **env},
    )


def test_a_run_whose_outputs_stopped_at_max_tokens_says_so_everywhere_it_is_shown(tmp_path):
    from fastapi.testclient import TestClient

    from jobs.ui import create_app

    out = str(tmp_path / "out")
    ids = [f"r{i:04d}" for i in range(8)]
    commit_run(out, "cut", ids, errors={"r0003": "engine_error"}, sampling={"ignore_eos": False})
    warning = "100% of outputs (7 of 7) stopped at max_tokens 8 (finish_reason length)"  # 8 rows, one failed
    root = ["--output-uri", out]
    for args in (("show", "nightly/cut"), ("status", "nightly/cut"), ("status", "nightly/cut", "--json")):
        done = cli(*args, *root)
        assert done.returncode == 0 and f"warning: {warning}" in done.stderr, (args, done.stderr)
    assert json.loads(cli("status", "nightly", "--json", *root).stdout)["warnings"][0].startswith(warning)
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    page = client.get("/jobs/nightly/runs/cut")
    assert page.status_code == 200 and warning in page.text and 'data-total="outputs_truncated">7<' in page.text
    only_cut = client.get("/jobs/nightly/runs/cut", params={"finish_reason": "length"})
    assert '<span id="matching">7</span>' in only_cut.text  # the viewer filters by finish reason
    complete = client.get("/jobs/nightly/runs/cut", params={"finish_reason": "stop"})
    assert '<span id="matching">0</span>' in complete.text
    # `run` prints the same line on stderr and lists it in its JSON summary's warnings.
    from types import SimpleNamespace

    from jobs.cli.run import _run_summary
    from jobs.state import read_manifest

    layout = RunLayout(output_uri=out, job=JOB, run_id="cut")
    finished = SimpleNamespace(
        manifest=read_manifest(storage_for(out), layout), manifest_uri=layout.manifest, written=True, published=[]
    )
    assert _run_summary(finished)["warnings"][0].startswith(warning)
    # A run that asked for every row to run to max_tokens (ignore_eos) is not warned about.
    commit_run(out, "asked", ids)
    assert "warning" not in cli("show", "nightly/asked", *root).stderr


def test_query_takes_json_like_every_command(tmp_path):
    out = str(tmp_path / "out")
    two_nights(out)
    sql = "SELECT id, text FROM latest ORDER BY id LIMIT 2"
    as_json = cli("query", sql, "--output-uri", out, "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == [
        {"id": "r0001", "text": "Summary of r0001."},
        {"id": "r0002", "text": "A rewritten summary."},  # night 2 edited it
    ]
