"""Records written by the 0.1 release (tests/fixtures/records-0.1: a real incremental job of two
nights, the first claimed as a cron slot) stay readable by every reader of this one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.catalog import list_jobs, list_runs, run_status
from jobs.query import connect, load_committed_runs
from jobs.state import (
    JobLayout,
    apply_retention,
    collect_garbage,
    committed_manifests,
    load_committed,
    read_claims,
    read_latest,
    read_lease,
    read_plan,
    read_shard_records,
    read_state,
    uncommitted_runs,
    verify_files,
)
from workers.io import LocalStorage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "records-0.1"
REPO = Path(__file__).resolve().parents[3]
JOB = "nightly-summaries"
FIRST, SECOND = "20261201T010000Z", "20261202T010000Z"


@pytest.fixture
def root(tmp_path) -> str:
    shutil.copytree(FIXTURES, tmp_path / "out")
    return str(tmp_path / "out")


def test_every_state_reader_reads_the_released_records(root):
    storage, job = LocalStorage(), JobLayout(output_uri=root, job=JOB)
    manifests = committed_manifests(storage, job, skipped=(skipped := []))
    assert skipped == [] and [m.run_id for m in manifests] == [FIRST, SECOND]
    assert manifests[1].reused_from == FIRST and manifests[1].totals.rows_reused == 6
    assert read_latest(storage, job) == SECOND and uncommitted_runs(storage, job) == []
    for run_id in (FIRST, SECOND):
        layout = job.run(run_id)
        assert read_plan(storage, layout).run_id == run_id
        assert sorted(read_shard_records(storage, layout)) == [0, 1]
        assert read_lease(storage, layout)[0].released is True
        state = read_state(storage, layout)
        assert str(state.state) == "succeeded" and state.notify is not None  # written then, never used now
        manifest, run_dir = load_committed(layout.run_dir)
        assert verify_files(manifest, run_dir) == []
    (claim,) = read_claims(storage, job)
    assert (claim.slot, claim.decision, claim.run_id, claim.claimed_by) == (FIRST, "run", FIRST, "run")


def test_query_catalog_viewer_and_cleanup_read_the_released_records(root):
    from fastapi.testclient import TestClient

    from jobs.ui import create_app

    committed = load_committed_runs(root)
    assert committed.unreadable == [] and committed.latest == {JOB: SECOND}
    assert connect(root).sql("select run_id, count(*) from latest group by 1").fetchall() == [(SECOND, 6)]
    assert [r.run_id for r in list_runs(root, JOB)] == [FIRST, SECOND]
    assert list_jobs(root)[0]["last_run"]["run_id"] == SECOND
    assert run_status(root, JOB, FIRST)["state"] == "succeeded"
    client = TestClient(create_app(root), base_url="http://127.0.0.1")
    page = client.get(f"/jobs/{JOB}/runs/{SECOND}")
    assert page.status_code == 200 and 'data-id="r0005"' in page.text
    assert collect_garbage(LocalStorage(), output_uri=root, job=JOB, grace_seconds=0).deleted == []
    report = apply_retention(LocalStorage(), JobLayout(output_uri=root, job=JOB), keep_runs=1, dry_run=True)
    assert report.deleted_runs == [FIRST] and report.unreadable == []


def test_the_cli_shows_the_released_records(root):
    def cli(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args, "--output-uri", root, "--json"],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return json.loads(done.stdout)

    assert [r["state"] for r in cli("runs", JOB)["runs"]] == ["succeeded", "succeeded"]
    assert cli("status", f"{JOB}/{SECOND}")["rows"] == 6
    assert [c["run_state"] for c in cli("schedule", "list", JOB)["claims"]] == ["succeeded"]


def test_the_released_runs_chrf_reads_on_0_to_1_like_tonights(root):
    """0.1 stored chrF on sacrebleu's 0..100 (its manifest says mean 3.3445; a data file holds
    2.525...): read now, every place shows it divided by 100, so nights compare."""
    storage, job = LocalStorage(), JobLayout(output_uri=root, job=JOB)
    manifest, _ = load_committed(job.run(FIRST).run_dir)
    assert manifest.scores["chrf"].mean == 0.033445 and manifest.scores["rouge_l"].mean == 0.0
    assert manifest.percent_score_columns == ("score_chrf",)
    records = read_shard_records(storage, job.run(FIRST))
    assert records[0].scores["chrf"].total == pytest.approx(0.11354176)  # 11.354... / 100
    first = (
        connect(root)
        .sql(f"SELECT score_chrf FROM outputs WHERE run_id = '{FIRST}' ORDER BY row_id, sample_index")
        .fetchall()
    )
    assert first[0][0] == pytest.approx(0.02525252525) and max(v for (v,) in first) < 1
