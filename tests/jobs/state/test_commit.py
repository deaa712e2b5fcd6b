"""The commit protocol on local storage: data, then record, then one manifest, then `latest`."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobs.errors import InputError
from jobs.state import (
    RunLayout,
    commit_manifest,
    load_committed,
    read_manifest,
    read_shard_records,
    sha256_hex,
    verify_files,
    write_shard,
)
from schemas.manifest import Shard
from schemas.tally import TallyColumns, sum_records
from tests.builders import JOB, RUN_ID, committed_run, make_manifest, output_table
from workers.io import AlreadyExists, LocalStorage

IDS = [f"r{i:04d}" for i in range(7)]


class RecordingStorage(LocalStorage):
    """Local storage that remembers the order of writes."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False) -> None:
        super().write_bytes(uri, data, if_none_match=if_none_match)
        self.writes.append(uri)


@pytest.fixture
def layout(tmp_path) -> RunLayout:
    return RunLayout(output_uri=str(tmp_path / "out"), job=JOB, run_id=RUN_ID)


def _write(storage, layout: RunLayout, shard: int, ids: list[str], start: int, **kwargs):
    return write_shard(
        storage,
        layout,
        Shard(index=shard, input_file="/data/articles.parquet", row_start=start, row_end=start + len(ids)),
        output_table(ids, **kwargs),
        columns=TallyColumns(id_column="id"),
        attempt=1,
    )


def test_layout_names(tmp_path):
    layout = RunLayout(output_uri=str(tmp_path) + "/", job="j", run_id="r1")
    assert layout.run_dir == f"{tmp_path}/j/runs/r1"
    assert layout.manifest == f"{tmp_path}/j/runs/r1/_manifest.json"
    assert layout.latest == f"{tmp_path}/j/latest"
    assert layout.data_path(3, 1) == "data/shard-00003-a1.parquet"
    assert layout.shard_record(12) == f"{tmp_path}/j/runs/r1/shards/shard-00012.json"


def test_write_shard_writes_data_then_record(layout):
    storage = RecordingStorage()
    record = _write(storage, layout, 0, IDS[:4], 0, errors={"r0002": "template_error"})
    data = Path(layout.run_dir) / "data" / "shard-00000-a1.parquet"
    assert storage.writes == [str(data), layout.shard_record(0)]
    payload = data.read_bytes()
    assert record.file.path == "data/shard-00000-a1.parquet"
    assert record.file.sha256 == sha256_hex(payload)
    assert record.file.bytes == len(payload)
    assert record.file.rows == 4 == pq.read_metadata(data).num_rows
    assert pq.read_table(data).column("id").to_pylist() == IDS[:4]
    assert (record.shard, record.input_file, record.row_start, record.row_end) == (0, "/data/articles.parquet", 0, 4)
    assert record.totals.model_dump() == {
        "rows_in": 4,
        "rows_ok": 3,
        "rows_failed": 1,
        "outputs": 4,
        "outputs_failed": 1,
        "outputs_truncated": 3,  # every ok row of output_table stopped at max_tokens
        "input_tokens": 20 + 21 + 23,
        "output_tokens": 24,
    }
    assert record.errors == {"template_error": 1}
    on_disk = json.loads(Path(layout.shard_record(0)).read_text())
    assert on_disk["file"]["sha256"] == record.file.sha256


def test_a_written_shard_is_never_replaced(layout):
    from jobs.errors import LeaseHeld

    storage = LocalStorage()
    first = _write(storage, layout, 0, IDS[:4], 0)
    data = Path(layout.run_dir) / first.file.path
    committed_bytes = data.read_bytes()
    assert _write(storage, layout, 0, IDS[:4], 0) == first  # a retried write of the same bytes is a no-op
    with pytest.raises(AlreadyExists):
        _write(storage, layout, 0, IDS[:3], 0)  # same attempt, other bytes: refused
    with pytest.raises(LeaseHeld, match="finished by another attempt"):
        write_shard(
            storage,
            layout,
            Shard(index=0, input_file="/data/articles.parquet", row_start=0, row_end=3),
            output_table(IDS[:3]),
            columns=TallyColumns(id_column="id"),
            attempt=2,
        )
    assert data.read_bytes() == committed_bytes and read_shard_records(storage, layout) == {0: first}
    assert sorted(p.name for p in data.parent.iterdir()) == ["shard-00000-a1.parquet", "shard-00000-a2.parquet"]


def test_read_shard_records(layout):
    storage = LocalStorage()
    assert read_shard_records(storage, layout) == {}
    first = _write(storage, layout, 0, IDS[:4], 0)
    second = _write(storage, layout, 1, IDS[4:], 4)
    # A leftover temporary file from a crashed write is not a record.
    (Path(layout.shards_dir) / ".shard-00002.json.abc.tmp").write_text("{partial")
    assert read_shard_records(storage, layout) == {0: first, 1: second}


def test_sum_totals(layout):
    storage = LocalStorage()
    records = [
        _write(storage, layout, 0, IDS[:4], 0, errors={"r0001": "template_error", "r0003": "prompt_too_long"}),
        _write(storage, layout, 1, IDS[4:], 4, errors={"r0005": "template_error"}),
    ]
    totals, errors, quality = sum_records(records, references={})
    assert totals == {
        "rows_in": 7,
        "rows_ok": 4,
        "rows_failed": 3,
        "outputs": 7,
        "outputs_failed": 3,
        "outputs_truncated": 4,
        "input_tokens": 20 + 22 + 20 + 22,
        "output_tokens": 32,
    }
    assert quality == {}
    assert errors == {"prompt_too_long": 1, "template_error": 2}
    assert list(errors) == sorted(errors)


def test_commit_manifest_writes_once(layout):
    storage = LocalStorage()
    records = [_write(storage, layout, 0, IDS[:4], 0), _write(storage, layout, 1, IDS[4:], 4)]
    assert read_manifest(storage, layout) is None
    manifest = make_manifest(layout, records)
    first = commit_manifest(storage, layout, manifest)
    assert first.written is True
    assert first.manifest == manifest
    committed = Path(layout.manifest).read_bytes()
    assert read_manifest(storage, layout) == manifest
    assert json.loads(Path(layout.latest).read_text())["run_id"] == RUN_ID

    later = make_manifest(layout, records, finished_at="2024-06-01T09:00:00+00:00")
    second = commit_manifest(storage, layout, later)
    assert second.written is False
    assert second.manifest == manifest  # the one that stands, not the one offered
    assert Path(layout.manifest).read_bytes() == committed
    assert [p.name for p in Path(layout.run_dir).iterdir() if p.name.startswith(".")] == []


def test_latest_names_the_last_committed_run(tmp_path):
    storage = LocalStorage()
    first_layout, _ = committed_run(tmp_path / "out", run_id="20240601T020000Z-aaaaaa")
    second_layout, _ = committed_run(tmp_path / "out", run_id="20240602T020000Z-bbbbbb")
    assert first_layout.latest == second_layout.latest
    assert json.loads(storage.read_bytes(second_layout.latest))["run_id"] == "20240602T020000Z-bbbbbb"
    # A second driver committing the older run finds its manifest and leaves `latest` alone.
    rival = read_manifest(storage, first_layout).model_copy(update={"finished_at": "2024-06-03T00:00:00+00:00"})
    again = commit_manifest(storage, first_layout, rival)
    assert again.written is False
    assert json.loads(storage.read_bytes(second_layout.latest))["run_id"] == "20240602T020000Z-bbbbbb"


def test_if_none_match_refuses_existing_file(tmp_path):
    storage = LocalStorage()
    target = str(tmp_path / "d" / "object.json")
    storage.write_bytes(target, b"first", if_none_match=True)
    with pytest.raises(AlreadyExists):
        storage.write_bytes(target, b"second", if_none_match=True)
    assert storage.read_bytes(target) == b"first"
    storage.write_bytes(target, b"third")  # an unconditional write replaces
    assert storage.read_bytes(target) == b"third"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["object.json"]


def test_concurrent_conditional_writers_have_one_winner(tmp_path):
    storage = LocalStorage()
    target = str(tmp_path / "runs" / "_manifest.json")
    barrier = threading.Barrier(8)
    outcomes: dict[int, str] = {}

    def writer(n: int) -> None:
        barrier.wait()
        try:
            storage.write_bytes(target, f"writer {n}".encode(), if_none_match=True)
            outcomes[n] = "won"
        except AlreadyExists:
            outcomes[n] = "lost"

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 8
    winners = [n for n, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1
    assert storage.read_bytes(target) == f"writer {winners[0]}".encode()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["_manifest.json"]


def test_load_committed_by_run_dir_or_manifest_path(tmp_path):
    layout, manifest = committed_run(tmp_path / "out")
    assert load_committed(layout.run_dir) == (manifest, layout.run_dir)
    assert load_committed(layout.run_dir + "/") == (manifest, layout.run_dir)
    assert load_committed(layout.manifest) == (manifest, layout.run_dir)
    assert manifest.totals.rows_in == 7 and manifest.totals.rows_failed == 1
    assert [f.path for f in manifest.files] == ["data/shard-00000-a1.parquet", "data/shard-00001-a1.parquet"]


def test_load_committed_rejects_uncommitted_dir(tmp_path):
    with pytest.raises(InputError, match="is not a run directory"):
        load_committed(str(tmp_path))
    run_dir = tmp_path / "job" / "runs" / "r1"
    run_dir.mkdir(parents=True)
    with pytest.raises(InputError, match="has no _manifest.json: the run is not committed"):
        load_committed(str(run_dir))


@pytest.mark.parametrize(
    "hostile",
    [
        "../../outside.parquet",
        "data/../../outside.parquet",
        "/etc/passwd",
        "s3://bucket/key",
        "file:///etc/passwd",
        "data//x.parquet",
        "./data/x.parquet",
        "data\\x.parquet",
    ],
)
def test_a_manifest_pointing_outside_the_run_is_refused_even_with_matching_bytes(tmp_path, hostile):
    import hashlib

    layout, _ = committed_run(tmp_path / "out")
    outside = Path(layout.runs_dir) / "outside.parquet"  # what ../../ from data/ would reach
    outside.write_bytes(b"not ours")
    manifest = json.loads(Path(layout.manifest).read_text())
    manifest["files"][0].update(path=hostile, bytes=8, sha256=hashlib.sha256(b"not ours").hexdigest())
    Path(layout.manifest).write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"_manifest.json is not a valid Manifest: files.0.path: .*not a plain path"):
        load_committed(layout.run_dir)
    with pytest.raises(InputError, match="not a plain path"):
        read_manifest(LocalStorage(), layout)


def test_a_shard_record_pointing_outside_the_run_is_refused(tmp_path):
    layout, _ = committed_run(tmp_path / "out")
    record_path = Path(layout.shard_record(0))
    record = json.loads(record_path.read_text())
    record["file"]["path"] = "../../../elsewhere.parquet"
    record_path.write_text(json.dumps(record))
    with pytest.raises(InputError, match=r"shard-00000.json is not a valid ShardRecord: file.path"):
        read_shard_records(LocalStorage(), layout)


def test_verify_files_ok(tmp_path):
    layout, manifest = committed_run(tmp_path / "out")
    assert verify_files(manifest, layout.run_dir) == []


def test_verify_files_detects_flipped_byte(tmp_path):
    layout, manifest = committed_run(tmp_path / "out")
    path = Path(layout.run_dir) / "data" / "shard-00001-a1.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert verify_files(manifest, layout.run_dir) == ["data/shard-00001-a1.parquet: sha256 mismatch"]


def test_verify_files_detects_missing_and_resized(tmp_path):
    layout, manifest = committed_run(tmp_path / "out")
    data_dir = Path(layout.run_dir) / "data"
    (data_dir / "shard-00000-a1.parquet").unlink()
    resized = data_dir / "shard-00001-a1.parquet"
    resized.write_bytes(resized.read_bytes() + b"x")
    expected = manifest.files[1].bytes
    assert verify_files(manifest, layout.run_dir) == [
        "data/shard-00000-a1.parquet: missing",
        f"data/shard-00001-a1.parquet: {expected + 1} bytes, manifest says {expected}",
    ]


def test_a_retry_of_a_put_that_landed_is_recognised_as_ours(layout):
    storage = LocalStorage()
    records = [_write(storage, layout, 0, IDS[:4], 0), _write(storage, layout, 1, IDS[4:], 4)]
    manifest = make_manifest(layout, records)

    class LostAnswer(LocalStorage):
        """The put lands, then the client sees an error, once."""

        failed = False

        def write_bytes(self, uri, data, *, if_none_match=False):
            super().write_bytes(uri, data, if_none_match=if_none_match)
            if uri == layout.manifest and not self.failed:
                self.failed = True
                raise ConnectionResetError("connection reset after the request was sent")

    flaky = LostAnswer()
    result = commit_manifest(flaky, layout, manifest)

    assert flaky.failed and result.written is True and result.manifest == manifest
    assert read_manifest(storage, layout) == manifest
    assert json.loads(Path(layout.latest).read_text())["run_id"] == RUN_ID


def test_latest_never_moves_back_to_an_older_run(tmp_path):
    storage = LocalStorage()
    newer, _ = committed_run(tmp_path / "out", run_id="20240602T020000Z-bbbbbb")
    older_layout = RunLayout(output_uri=newer.output_uri, job=newer.job, run_id="20240601T020000Z-aaaaaa")
    older = read_manifest(storage, newer).model_copy(
        update={"run_id": older_layout.run_id, "finished_at": "2024-05-01T00:00:00+00:00"}
    )
    assert commit_manifest(storage, older_layout, older).written is True
    assert json.loads(storage.read_bytes(newer.latest))["run_id"] == "20240602T020000Z-bbbbbb"


def test_local_compare_and_swap(tmp_path):
    from workers.io import ConditionFailed

    storage = LocalStorage()
    uri = str(tmp_path / "pointer")
    version = storage.write_bytes(uri, b"one")
    assert storage.read_versioned(uri) == (b"one", version)
    storage.write_bytes(uri, b"two", if_match=version)
    with pytest.raises(ConditionFailed):
        storage.write_bytes(uri, b"three", if_match=version)  # stale version: refused
    assert storage.read_bytes(uri) == b"two"


def test_an_os_error_while_writing_a_shard_is_a_job_failure_naming_the_file(layout):
    from jobs.errors import JobError

    Path(layout.run_dir).mkdir(parents=True)
    Path(layout.data_dir).write_text("a file where the data directory should be")
    with pytest.raises(JobError, match=r"writing .*/data/shard-00000-a1.parquet failed") as caught:
        _write(LocalStorage(), layout, 0, IDS[:4], 0)
    assert caught.value.exit_code == 1 and not Path(layout.shards_dir).exists()
