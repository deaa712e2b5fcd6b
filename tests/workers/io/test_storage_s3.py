"""S3Storage against a real S3 server process (moto on loopback), directly and through a proxy
that answers 30% of requests with 503 SlowDown."""

from __future__ import annotations

import hashlib
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.errors import InputError
from jobs.inputs import inspect_input, split_shards
from schemas.spec import JobSpec
from tests.s3 import group_members, proxy_stats, running_fault_proxy, running_moto_server
from workers.io import S3_RETRIES, SCHEMES, AlreadyExists, S3Storage, read_shard, storage_for

pytestmark = pytest.mark.timeout(120)


def parquet_bytes(table: pa.Table, *, row_group_size: int | None = None) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    return buffer.getvalue()


def id_table(start: int, count: int) -> pa.Table:
    return pa.table(
        {
            "id": [f"r{i:04d}" for i in range(start, start + count)],
            "title": [f"Story {i}" for i in range(start, start + count)],
        }
    )


def job_spec(input_uri: str, *, rows_per_shard: int = 4) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "s3-plan",
            "input": {"uri": input_uri, "id_column": "id", "columns": ["title"], "rows_per_shard": rows_per_shard},
            "task": {"kind": "summary", "prompt": "Summarize: {{ title }}"},
            "output": {"uri": input_uri.rsplit("/", 1)[0] + "/out"},
        }
    )


def concurrent_conditional_puts(storage: S3Storage, uri: str, writers: int = 16) -> list[int]:
    """Writers that each try to create uri with their own payload; returns the winners."""
    barrier = threading.Barrier(writers)

    def attempt(writer: int) -> int | None:
        barrier.wait()
        try:
            storage.write_bytes(uri, f"writer {writer}".encode(), if_none_match=True)
        except AlreadyExists:
            return None
        return writer

    with ThreadPoolExecutor(writers) as pool:
        return [w for w in pool.map(attempt, range(writers)) if w is not None]


def test_scheme_registry_serves_s3():
    assert SCHEMES["s3"] == "workers.io.s3:S3Storage" and isinstance(storage_for("s3://b/k"), S3Storage)
    assert isinstance(storage_for("s3://bucket/prefix"), S3Storage)


def test_every_operation(s3_bucket):
    storage = storage_for(f"s3://{s3_bucket}/x")
    base = f"s3://{s3_bucket}/dir"
    payload = b"hello object storage"

    storage.write_bytes(f"{base}/a.txt", payload)
    storage.write_bytes(f"{base}/sub/b.txt", b"b")
    storage.write_bytes(f"s3://{s3_bucket}/dirx/c.txt", b"c")  # a sibling prefix, not under dir/

    assert storage.read_bytes(f"{base}/a.txt") == payload
    info = storage.stat(f"{base}/a.txt")
    assert (info.uri, info.size, info.etag) == (f"{base}/a.txt", len(payload), hashlib.md5(payload).hexdigest())
    assert storage.exists(f"{base}/a.txt")
    assert not storage.exists(f"{base}/missing.txt")
    assert not storage.exists(base)  # a prefix is not an object
    assert storage.is_dir(base) and storage.is_dir(base + "/") and storage.is_dir(f"s3://{s3_bucket}")
    assert not storage.is_dir(f"{base}/a.txt") and not storage.is_dir(f"s3://{s3_bucket}/nothing")
    assert storage.list_files(base) == [f"{base}/a.txt", f"{base}/sub/b.txt"]
    assert storage.list_files(f"s3://{s3_bucket}/nothing") == []
    assert storage.list_files(f"s3://{s3_bucket}") == [
        f"{base}/a.txt",
        f"{base}/sub/b.txt",
        f"s3://{s3_bucket}/dirx/c.txt",
    ]

    storage.write_bytes(f"{base}/a.txt", b"replaced")  # unconditional puts overwrite
    assert storage.read_bytes(f"{base}/a.txt") == b"replaced"
    storage.delete(f"{base}/a.txt")
    storage.delete(f"{base}/a.txt")  # deleting an absent key is not an error
    assert not storage.exists(f"{base}/a.txt")
    with pytest.raises(FileNotFoundError):
        storage.stat(f"{base}/a.txt")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(f"{base}/a.txt")
    with pytest.raises(ValueError, match="not an s3://bucket/key URI"):
        storage.read_bytes("s3:///no-bucket")


def test_client_follows_the_endpoint_and_keeps_secrets_out(s3_server, monkeypatch):
    assert S3Storage._client().meta.endpoint_url == s3_server
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert S3Storage._client().meta.endpoint_url == "http://127.0.0.1:9"
    filesystem, path = S3Storage().arrow_filesystem("s3://bucket/key.parquet")
    assert path == "bucket/key.parquet"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    assert "s3cr3t" not in repr(S3Storage())
    assert "s3cr3t" not in str(filesystem.__reduce__())  # credentials stay in the AWS SDK chain
    monkeypatch.undo()
    assert S3Storage._client().meta.endpoint_url == s3_server


def test_conditional_put_second_writer_gets_already_exists(s3_bucket):
    storage = S3Storage()
    uri = f"s3://{s3_bucket}/runs/r1/_manifest.json"
    storage.write_bytes(uri, b"first", if_none_match=True)
    with pytest.raises(AlreadyExists):
        storage.write_bytes(uri, b"second", if_none_match=True)
    assert storage.read_bytes(uri) == b"first"


def test_sixteen_concurrent_writers_one_winner(s3_bucket):
    storage = S3Storage()
    uri = f"s3://{s3_bucket}/race/_manifest.json"
    winners = concurrent_conditional_puts(storage, uri)
    assert len(winners) == 1
    assert storage.read_bytes(uri) == f"writer {winners[0]}".encode()


def test_list_files_follows_pages(s3_bucket):
    storage = S3Storage(page_size=10)  # S3 pages at 1000 keys; the same code path at 10
    base = f"s3://{s3_bucket}/many"
    expected = sorted([f"{base}/k{i:03d}" for i in range(25)] + [f"{base}/deep/er/k"])
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda uri: storage.write_bytes(uri, b"x"), expected))
    pages = []
    client = storage._client()

    def count_page(**kwargs):
        pages.append(kwargs["params"])

    client.meta.events.register("before-call.s3.ListObjectsV2", count_page)
    try:
        assert storage.list_files(base) == expected
    finally:
        client.meta.events.unregister("before-call.s3.ListObjectsV2", count_page)
    assert len(pages) == 3


def test_pyarrow_reads_parquet_written_through_write_bytes(s3_bucket):
    storage = S3Storage()
    uri = f"s3://{s3_bucket}/tables/t.parquet"
    table = id_table(0, 50)
    storage.write_bytes(uri, parquet_bytes(table))
    filesystem, path = storage.arrow_filesystem(uri)
    assert pq.read_table(path, filesystem=filesystem).equals(table)


def _write_input(storage: S3Storage, bucket: str) -> tuple[str, pa.Table]:
    base = f"s3://{bucket}/input"
    storage.write_bytes(f"{base}/part-0.parquet", parquet_bytes(id_table(0, 10), row_group_size=3))
    storage.write_bytes(f"{base}/part-1.parquet", parquet_bytes(id_table(10, 7), row_group_size=3))
    storage.write_bytes(f"{base}/_SUCCESS", b"")  # not Parquet: ignored by the planner
    return base, id_table(0, 17)


def _check_plan(storage: S3Storage, base: str, table: pa.Table) -> None:
    spec = job_spec(base)
    planned = inspect_input(spec)
    assert [f.uri for f in planned.files] == [f"{base}/part-0.parquet", f"{base}/part-1.parquet"]
    assert [f.rows for f in planned.files] == [10, 7]
    for file in planned.files:
        data = storage.read_bytes(file.uri)
        assert (file.bytes, file.etag) == (len(data), hashlib.md5(data).hexdigest())
    shards = split_shards(planned.files, rows_per_shard=spec.input.rows_per_shard)
    assert [(s.input_file.rsplit("/", 1)[1], s.row_start, s.row_end) for s in shards] == [
        ("part-0.parquet", 0, 4),
        ("part-0.parquet", 4, 8),
        ("part-0.parquet", 8, 10),
        ("part-1.parquet", 0, 4),
        ("part-1.parquet", 4, 7),
    ]
    rows = pa.concat_tables(read_shard(s, columns=planned.read_columns) for s in shards)
    assert rows.select(["id", "title"]).equals(table)


def test_plan_over_an_s3_directory_and_file(s3_bucket):
    storage = S3Storage()
    base, table = _write_input(storage, s3_bucket)
    _check_plan(storage, base, table)
    single = inspect_input(job_spec(f"{base}/part-1.parquet"))
    assert [(f.uri, f.rows) for f in single.files] == [(f"{base}/part-1.parquet", 7)]
    with pytest.raises(InputError, match="input file not found"):
        inspect_input(job_spec(f"{base}/absent.parquet"))
    storage.write_bytes(f"s3://{s3_bucket}/empty/readme.txt", b"no tables here")
    with pytest.raises(InputError, match="holds no .parquet files"):
        inspect_input(job_spec(f"s3://{s3_bucket}/empty"))


def _object_battery(storage: S3Storage, bucket: str) -> None:
    uris = [f"s3://{bucket}/faulty/k{i:02d}" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda uri: storage.write_bytes(uri, uri.encode()), uris))
        assert list(pool.map(storage.read_bytes, uris)) == [u.encode() for u in uris]
    assert storage.list_files(f"s3://{bucket}/faulty") == uris  # 2 pages at page_size=3
    assert storage.is_dir(f"s3://{bucket}/faulty")
    assert storage.stat(uris[0]).size == len(uris[0])
    storage.delete(uris[0])
    assert not storage.exists(uris[0])
    winners = concurrent_conditional_puts(storage, f"s3://{bucket}/faulty/_manifest.json")
    assert len(winners) == 1
    with pytest.raises(AlreadyExists):
        storage.write_bytes(f"s3://{bucket}/faulty/_manifest.json", b"late", if_none_match=True)


def _arrow_reads(storage: S3Storage, uri: str, expected: pa.Table) -> None:
    filesystem, path = storage.arrow_filesystem(uri)
    for _ in range(2):
        assert pq.read_table(path, filesystem=filesystem).equals(expected)


def test_everything_survives_a_30_percent_fault_rate(s3_bucket, faulty_s3, monkeypatch):
    base, table = _write_input(S3Storage(), s3_bucket)  # directly, before the faults start
    monkeypatch.setenv("AWS_ENDPOINT_URL", faulty_s3)
    storage = S3Storage(page_size=3)
    assert storage._client().meta.endpoint_url == faulty_s3
    retries_before, started = S3_RETRIES.count, time.monotonic()
    # Independent workloads run side by side: SlowDown backoff is ~0.5-1 s per retry.
    with ThreadPoolExecutor(3) as pool:
        workloads = [
            pool.submit(_object_battery, storage, s3_bucket),
            pool.submit(_check_plan, storage, base, table),
            pool.submit(_arrow_reads, storage, f"{base}/part-0.parquet", id_table(0, 10)),
        ]
        for workload in workloads:
            workload.result()
    boto_retries = S3_RETRIES.count - retries_before
    stats = proxy_stats(faulty_s3)
    # Every operation succeeded, so every 503 was retried: by boto3 (counted) or by pyarrow.
    arrow_retries = stats["faults"] - boto_retries
    print(
        f"\nthrough the fault proxy in {time.monotonic() - started:.1f} s: {stats['requests']} requests, "
        f"{stats['faults']} answered 503 SlowDown; boto3 retries {boto_retries}, "
        f"pyarrow retries {arrow_retries}"
    )
    assert stats["faults"] > 0 and boto_retries > 0 and arrow_retries > 0
    assert stats["requests"] == stats["faults"] + stats["forwarded"]


def test_proxy_forwards_streamed_uploads(s3_bucket, faulty_s3, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", faulty_s3)
    storage = S3Storage()
    filesystem, path = storage.arrow_filesystem(f"s3://{s3_bucket}/written-by-arrow.parquet")
    table = pa.table({"n": pa.array(range(200_000), pa.int64())})
    pq.write_table(table, path, filesystem=filesystem, compression=None)  # chunked aws-chunked PUT
    assert proxy_stats(faulty_s3)["chunked"] > 0
    assert pq.read_table(io.BytesIO(storage.read_bytes(f"s3://{path}"))).equals(table)


def test_servers_leave_no_process_behind():
    with running_moto_server() as (endpoint, moto), running_fault_proxy(endpoint, fault_rate=0.0) as (url, proxy):
        assert proxy_stats(url) == {
            "requests": 0,
            "faults": 0,
            "forwarded": 0,
            "chunked": 0,
            "answers_lost": 0,
            "methods": {},
        }
        pids = [moto.pid, proxy.pid]
    assert not group_members(moto.pid) and not group_members(proxy.pid)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def test_s3_compare_and_swap(s3_bucket):
    from workers.io import ConditionFailed

    storage = S3Storage()
    uri = f"s3://{s3_bucket}/pointer"
    version = storage.write_bytes(uri, b"one")
    assert storage.read_versioned(uri) == (b"one", version)
    storage.write_bytes(uri, b"two", if_match=version)
    with pytest.raises(ConditionFailed):
        storage.write_bytes(uri, b"three", if_match=version)
    with pytest.raises(ConditionFailed):
        storage.write_bytes(f"s3://{s3_bucket}/absent", b"x", if_match=version)
    assert storage.read_bytes(uri) == b"two"
