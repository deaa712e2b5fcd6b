"""Nothing read from storage is trusted: hostile and broken records, written by the test into a
real local root and a real S3 server, never move a reader outside its folder, never take a
reader down, and are never deleted by what could not read them."""

from __future__ import annotations

import json

import pytest

from jobs.errors import InputError
from jobs.query import connect, load_committed_runs
from jobs.reuse import previous_run
from jobs.state import (
    JobLayout,
    RunLayout,
    apply_retention,
    claim_run_plan,
    collect_garbage,
    committed_manifests,
    load_committed,
    read_latest,
    take_lease,
)
from schemas.manifest import PinnedModel, RunPlan
from schemas.spec import JobSpec
from tests.builders import JOB, committed_run
from workers.io import LocalStorage, S3Storage, join

NIGHTS = ("20261201T020000Z", "20261202T020000Z", "20261203T020000Z")


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    """(output root, its store, the root's parent): a local directory or a prefix of a real S3 bucket."""
    if request.param == "local":
        return str(tmp_path / "out"), LocalStorage(), str(tmp_path)
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/out", S3Storage(), f"s3://{bucket}"


def three_nights(out: str, storage) -> list[RunLayout]:
    return [
        committed_run(out, run_id=run_id, finished_at=f"2026-12-0{day}T02:30:00+00:00", storage=storage)[0]
        for day, run_id in enumerate(NIGHTS, start=1)
    ]


def manifest_of(storage, layout: RunLayout) -> dict:
    return json.loads(storage.read_bytes(layout.manifest))


def put_json(storage, uri: str, data: dict) -> None:
    storage.write_bytes(uri, json.dumps(data).encode())


def live_run(out: str, storage, run_id: str = "tonight") -> RunLayout:
    """An uncommitted run with a plan and a live lease (a driver generating right now)."""
    layout = RunLayout(output_uri=out, job=JOB, run_id=run_id)
    plan = RunPlan(
        job=JOB,
        run_id=run_id,
        spec_sha256="0" * 64,
        created_at="2026-12-04T02:00:00+00:00",
        inputs=[],
        model=PinnedModel(sha256="1" * 64, engine="vllm", engine_version="x"),
        shards=[],
    )
    claim_run_plan(storage, layout, plan)
    take_lease(storage, layout, ttl=600)
    storage.write_bytes(join(layout.data_dir, "shard-00000-a1.parquet"), b"PAR1 in progress")
    return layout


def test_retention_never_leaves_the_root_nor_deletes_every_run_on_hostile_run_ids(root):
    out, storage, parent = root
    nights = three_nights(out, storage)
    live = live_run(out, storage)
    victim = join(parent, "victim", "keep.txt")
    storage.write_bytes(victim, b"someone else's data")
    job = JobLayout(output_uri=out, job=JOB)
    for folder, run_id in (("zz", "../../../victim"), ("yy", "")):  # the paths retention once deleted
        put_json(
            storage, join(job.runs_dir, folder, "_manifest.json"), {**manifest_of(storage, nights[0]), "run_id": run_id}
        )

    report = apply_retention(storage, JobLayout(output_uri=out, job=JOB), keep_runs=1)

    assert storage.read_bytes(victim) == b"someone else's data"
    assert report.deleted_runs == list(NIGHTS[:2]) and report.kept_runs == [NIGHTS[2]]
    assert [m.run_id for m in committed_manifests(storage, job, skipped=[])] == [NIGHTS[2]]
    assert storage.exists(nights[2].manifest) and storage.exists(join(live.data_dir, "shard-00000-a1.parquet"))
    assert sorted(reason.split(" is not a valid Manifest")[0].rsplit("/", 2)[1] for reason in report.unreadable) == [
        "yy",
        "zz",
    ]
    assert storage.exists(join(job.runs_dir, "zz", "_manifest.json"))  # what it could not read, it kept


def test_a_copied_run_folder_is_refused_and_named_once(root, capsys):
    out, storage, _ = root
    nights = three_nights(out, storage)
    job = JobLayout(output_uri=out, job=JOB)
    for uri in storage.list_files(nights[0].run_dir):  # a run folder copied under another name, manifest and all
        storage.write_bytes(uri.replace(NIGHTS[0], "copy-of-night-1"), storage.read_bytes(uri))

    assert [m.run_id for m in committed_manifests(storage, job)] == list(NIGHTS)
    assert [m.run_id for m in committed_manifests(storage, job)] == list(NIGHTS)
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 1 and "names nightly-summaries/20261201T020000Z but lies in" in warnings[0]
    assert "copy-of-night-1" in warnings[0]
    rows = connect(out).sql("select run_id, count(*) from outputs group by 1 order by 1").fetchall()
    assert rows == [(run_id, 7) for run_id in NIGHTS]  # the copy's rows are not read a second time
    with pytest.raises(InputError, match="lies in nightly-summaries/copy-of-night-1's folder"):
        load_committed(job.run("copy-of-night-1").run_dir)


def test_one_unreadable_manifest_does_not_take_readers_down_and_is_never_deleted(root, capsys):
    out, storage, _ = root
    nights = three_nights(out, storage)
    put_json(storage, nights[0].manifest, {**manifest_of(storage, nights[0]), "from_a_newer_release": True})
    globbed = manifest_of(storage, nights[1])
    globbed["files"][0]["path"] = "data/*.parquet"  # DuckDB would expand it: not a path a manifest may hold
    put_json(storage, nights[1].manifest, globbed)

    committed = load_committed_runs(out)
    assert [r.run_id for r in committed.runs] == [NIGHTS[2]] and committed.latest == {JOB: NIGHTS[2]}
    assert {u.uri for u in committed.unreadable} == {nights[0].manifest, nights[1].manifest}
    assert connect(out).sql("select count(*) from outputs").fetchall() == [(7,)]
    report = apply_retention(storage, JobLayout(output_uri=out, job=JOB), keep_runs=1)
    assert report.deleted_runs == [] and len(report.unreadable) == 2
    gc = collect_garbage(storage, output_uri=out, job=JOB, grace_seconds=0)
    assert gc.deleted == [] and len(gc.unreadable) == 2
    for layout in nights[:2]:  # neither touched
        assert len(storage.list_files(layout.run_dir)) == len(storage.list_files(nights[2].run_dir))
    assert "from_a_newer_release" in capsys.readouterr().err  # named on stderr by the query API


def test_a_latest_pointer_out_of_the_root_is_refused_and_retention_then_deletes_nothing(root):
    out, storage, _ = root
    three_nights(out, storage)
    job = JobLayout(output_uri=out, job=JOB)
    put_json(storage, job.latest, {"run_id": "../../elsewhere/runs/x", "finished_at": "2026-12-09T00:00:00+00:00"})
    with pytest.raises(InputError, match="is not a valid LatestPointer: run_id"):
        read_latest(storage, job)
    committed = load_committed_runs(out)
    assert committed.latest == {} and [u.uri for u in committed.unreadable] == [job.latest]
    assert connect(out).sql("select count(*) from latest").fetchall() == [(0,)]
    report = apply_retention(storage, JobLayout(output_uri=out, job=JOB), keep_runs=1)
    assert report.deleted_runs == [] and report.kept_runs == list(NIGHTS)  # which run is latest is unknown


def test_folders_pressroom_keeps_beside_jobs_are_skipped_silently(root, capsys):
    out, storage, _ = root
    nights = three_nights(out, storage)
    for folder in (".pressroom", "_batch"):  # a reserved folder holding what looks like a run
        for uri in storage.list_files(nights[0].run_dir):
            storage.write_bytes(uri.replace(f"/{JOB}/", f"/{folder}/"), storage.read_bytes(uri))
    committed = load_committed_runs(out)
    assert sorted({r.job for r in committed.runs}) == [JOB] and committed.unreadable == []
    assert capsys.readouterr().err == ""
    for name in ("_batch", ".pressroom", "-x"):
        with pytest.raises(ValueError, match="name"):
            JobSpec.model_validate(
                {
                    "name": name,
                    "input": {"uri": "a", "id_column": "id"},
                    "task": {"kind": "summary"},
                    "output": {"uri": "o"},
                }
            )


def test_retention_keeps_a_run_an_incremental_run_pins_while_it_deletes(root):
    """The race: retention decided to delete night 1, and a driver pins it as reused_from before
    the delete lands. Retention looks again after taking the manifest away, and puts it back."""
    out, storage, _ = root
    nights = three_nights(out, storage)
    pinned = RunPlan(
        job=JOB,
        run_id="incremental",
        spec_sha256="0" * 64,
        created_at="2026-12-04T02:00:00+00:00",
        inputs=[],
        model=PinnedModel(sha256="1" * 64, engine="vllm", engine_version="x"),
        shards=[],
        mode="incremental",
        reused_from=NIGHTS[0],
    )
    delete = storage.delete

    def delete_then_pin(uri: str) -> None:
        delete(uri)
        if uri == nights[0].manifest:  # the moment after retention took night 1's manifest away
            claim_run_plan(storage, RunLayout(output_uri=out, job=JOB, run_id="incremental"), pinned)

    storage.delete = delete_then_pin
    report = apply_retention(storage, JobLayout(output_uri=out, job=JOB), keep_runs=1)
    assert report.deleted_runs == [NIGHTS[1]] and report.kept_runs == [NIGHTS[0], NIGHTS[2]]
    job = JobLayout(output_uri=out, job=JOB)
    assert [m.run_id for m in committed_manifests(storage, job)] == [NIGHTS[0], NIGHTS[2]]
    assert len(storage.list_files(nights[0].run_dir)) == len(storage.list_files(nights[2].run_dir))  # files and all


def test_reuse_checks_the_recorded_sha256_before_copying(root):
    out, storage, _ = root
    nights = three_nights(out, storage)
    entry = manifest_of(storage, nights[0])["files"][0]
    uri = join(nights[0].run_dir, entry["path"])
    data = storage.read_bytes(uri)
    storage.write_bytes(uri, data[:-8] + bytes(8))  # same size, other bytes
    from jobs.errors import JobError

    with pytest.raises(JobError, match="no longer matches the manifest of run 20261201T020000Z"):
        previous_run(storage, JobLayout(output_uri=out, job=JOB), NIGHTS[0], id_column="id")
