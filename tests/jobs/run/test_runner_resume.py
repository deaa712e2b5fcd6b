"""Resume in run_job when every shard already has a record: commits without starting Ray.

`_generate` (the only step that needs Ray and a model) is replaced by one that fails the test,
so these stay fast unit tests of the driver's resume and commit logic.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from jobs.errors import PressroomError
from jobs.plan import inspect_input, plan_shards
from jobs.run import attempt as runner
from jobs.spec import load_spec, spec_fingerprint
from jobs.state import RunLayout, read_shard_records, write_shard
from tests.jobs.builders import output_table, write_job

RUN_ID = "20240601T020000Z-c0ffee"


class GenerateCalled(Exception):
    """The runner tried to generate: it found shards to (re)do."""


@pytest.fixture(autouse=True)
def _no_generation(monkeypatch, tmp_path):
    monkeypatch.setenv("PRESSROOM_HOME", str(tmp_path / "home"))  # model hash cache

    def refuse(*args, **kwargs):
        raise GenerateCalled

    monkeypatch.setattr(runner, "_generate", refuse)


def _write_records(spec, *, rows_per_shard: int) -> None:
    """Completion records as a run planned with rows_per_shard would have left them."""
    table = inspect_input(spec)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=RUN_ID)
    for shard in plan_shards(table.files, rows_per_shard=rows_per_shard):
        ids = [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]
        write_shard(layout=layout, storage=runner.storage_for(spec.output.uri), shard=shard.index,
                    input_file=shard.input_file, row_range=(shard.row_start, shard.row_end),
                    table=output_table(ids), id_column="id")


def test_resume_with_every_shard_recorded_commits(tmp_path):
    spec = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 4}))
    _write_records(spec, rows_per_shard=4)
    result = runner.run_job(spec, run_id=RUN_ID)
    assert result.written is True
    assert result.manifest_uri == f"{spec.output.uri}/tiny-summaries/runs/{RUN_ID}/_manifest.json"
    manifest = result.manifest
    assert (manifest.job, manifest.run_id, manifest.status) == ("tiny-summaries", RUN_ID, "succeeded")
    assert manifest.spec_sha256 == spec_fingerprint(spec)
    assert manifest.totals.rows_in == 10 and manifest.totals.rows_ok == 10
    assert (manifest.totals.rows_reused, manifest.totals.rows_generated) == (10, 0)
    assert [f.path for f in manifest.files] == [f"data/shard-{i:05d}.parquet" for i in range(3)]
    assert manifest.model.path == str((tmp_path / "job" / "model").resolve())
    assert len(manifest.model.sha256) == 64

    again = runner.run_job(spec, run_id=RUN_ID)
    assert again.written is False
    assert again.manifest == manifest


def test_resume_with_a_missing_record_generates(tmp_path):
    spec = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 4}))
    _write_records(spec, rows_per_shard=4)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=RUN_ID)
    Path(layout.shard_record(1)).unlink()
    assert sorted(read_shard_records(runner.storage_for(spec.output.uri), layout)) == [0, 2]
    with pytest.raises(GenerateCalled):
        runner.run_job(spec, run_id=RUN_ID)


def test_resume_with_records_from_another_plan_does_not_lose_rows(tmp_path):
    spec = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 5}))
    _write_records(spec, rows_per_shard=4)  # shards (0,4) (4,8) (8,10) from an earlier attempt
    try:
        result = runner.run_job(spec, run_id=RUN_ID)
    except (PressroomError, GenerateCalled):
        return  # refusing the stale records, or redoing the shards, are both correct
    assert result.manifest.totals.rows_in == 10


def _started_run(tmp_path, rows: int = 10):
    """A run that planned its shards and finished none: its _run.json exists, no records."""
    spec = load_spec(write_job(tmp_path / "job", rows=rows, input={"rows_per_shard": 4}))
    with pytest.raises(GenerateCalled):
        runner.run_job(spec, run_id=RUN_ID)
    return spec


def test_resume_refuses_a_changed_input(tmp_path):
    spec = _started_run(tmp_path)
    write_job(tmp_path / "job", rows=11, input={"rows_per_shard": 4})  # rewrites the input table
    with pytest.raises(PressroomError) as caught:
        runner.run_job(load_spec(tmp_path / "job" / "job.yaml"), run_id=RUN_ID)
    assert caught.value.exit_code == 2
    assert f"run {RUN_ID}: input changed since the run started: {spec.input.uri}" in str(caught.value)


def test_resume_refuses_a_changed_spec(tmp_path):
    _started_run(tmp_path)
    changed = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 5}))
    with pytest.raises(PressroomError) as caught:
        runner.run_job(changed, run_id=RUN_ID)
    assert caught.value.exit_code == 2 and "was started from a different spec" in str(caught.value)


def test_resume_flag_picks_the_newest_uncommitted_run(tmp_path):
    spec = _started_run(tmp_path)
    seen: list[str] = []
    with pytest.raises(GenerateCalled):
        runner.run_job(spec, resume=True, on_start=seen.append)
    assert seen == [RUN_ID]


def test_resume_flag_without_a_started_run_is_an_error(tmp_path):
    spec = load_spec(write_job(tmp_path / "job", rows=4))
    with pytest.raises(PressroomError, match="has no uncommitted run"):
        runner.run_job(spec, resume=True)


def test_progress_counts_input_rows_when_each_row_has_several_samples():
    from tests.jobs.builders import output_table

    progress = runner.Progress(rows_total=2)
    table = output_table(["a", "b"])
    progress.add(pa.concat_tables([table, table]), samples=2)  # 4 outputs of 2 input rows
    assert progress.rows_done == 2
