"""The commit protocol, and the only writer of what it writes: the run's plan, data files, shard
records, the manifest, `latest`, and the record of the Iceberg snapshot a committed run became.

Order is the protocol: a shard's data file, then its record (after the file is checked), then,
once every shard has a record, the manifest (a conditional put), then the job's latest pointer.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.errors import JobError, LeaseHeld
from jobs.retry import conflicts, swap, with_retries
from jobs.state.paths import RunLayout
from jobs.state.read import check_identity, parse_record, read_run_record, sha256_hex
from schemas.manifest import SCORE_SCALE, FileEntry, Manifest, RunPlan, Shard, ShardRecord, ShardWork
from schemas.state import LatestPointer, PublishRecord, RunStateName
from schemas.tally import TallyColumns, shard_quality, shard_scores, shard_totals
from workers.io import AlreadyExists, ConditionFailed, Storage, join


def write_shard(
    storage: Storage,
    layout: RunLayout,
    shard: Shard,
    table: pa.Table,
    *,
    attempt: int,
    columns: TallyColumns,
    work: ShardWork | None = None,
) -> ShardRecord:
    """Write one shard's data file under this attempt's name, check it, then its completion record.

    Both are puts that never overwrite: a data file's name is the attempt's own, and a record that
    already exists belongs to another attempt that finished the shard first (LeaseHeld).
    """
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    path = layout.data_path(shard.index, attempt)
    data_uri = join(layout.run_dir, path)
    _put_new(storage, data_uri, data)
    stored = storage.stat(data_uri)
    if stored.size != len(data):
        raise JobError(f"writing {data_uri}: wrote {len(data)} bytes, the store reports {stored.size}")
    totals, errors = shard_totals(table, id_column=columns.id_column)
    record = ShardRecord(
        shard=shard.index,
        input_file=shard.input_file,
        row_start=shard.row_start,
        row_end=shard.row_end,
        file=FileEntry(path=path, rows=table.num_rows, bytes=len(data), sha256=sha256_hex(data)),
        totals=totals,
        errors=errors,
        quality=shard_quality(table, references=columns.references),
        work=work or ShardWork(rows_generated=shard.rows),
        scores=shard_scores(table),
        score_scale=SCORE_SCALE,
    )
    try:
        _put_new(storage, layout.shard_record(shard.index), record.model_dump_json(indent=2).encode())
    except AlreadyExists:
        raise LeaseHeld(f"shard {shard.index} of run {layout.run_id} was finished by another attempt first") from None
    return record


def _put_new(storage: Storage, uri: str, data: bytes) -> None:
    """Put bytes under a name that must be new. A retried put whose first answer was lost finds
    its own bytes there and counts as done; anything else there raises AlreadyExists."""
    try:
        with_retries(partial(storage.write_bytes, uri, data, if_none_match=True))
    except AlreadyExists:
        if storage.read_bytes(uri) != data:
            raise
    except OSError as exc:
        raise JobError(f"writing {uri} failed: {exc}") from exc


def record_published(storage: Storage, layout: RunLayout, record: PublishRecord) -> None:
    """Write the run's publish record once. The table is the truth (its snapshot names the run);
    a record already there from a concurrent publisher names the same snapshot and stands."""
    with contextlib.suppress(AlreadyExists):
        _put_new(storage, layout.published, record.model_dump_json(indent=2).encode())


def claim_run_plan(storage: Storage, layout: RunLayout, plan: RunPlan) -> RunPlan:
    """Write the run's plan if this is its first start; return the plan that stands."""
    try:
        _put_new(storage, layout.plan, plan.model_dump_json(indent=2).encode())
    except AlreadyExists:
        return read_run_record(storage, layout.plan, RunPlan, layout)
    return plan


@dataclass(frozen=True)
class CommitResult:
    """The manifest that stands, and whether this call wrote it."""

    manifest: Manifest
    written: bool


def commit_manifest(
    storage: Storage, layout: RunLayout, manifest: Manifest, *, latest_only_from: str | None = None
) -> CommitResult:
    """Put the manifest if absent (If-None-Match), then point `latest` at the run (unless rejected).

    A put whose answer was lost may still have landed: a retry that finds a manifest with our
    exact bytes recognises it as its own and reports success, without a second commit.
    With `latest_only_from` (a retry), `latest` moves only if it names that run.
    """
    data = manifest.model_dump_json(indent=2).encode()
    # FileNotFoundError: a 409 (a concurrent conditional put won) whose winner then failed.
    existing = with_retries(
        lambda: _put_or_read(storage, layout.manifest, data), also=lambda exc: isinstance(exc, FileNotFoundError)
    )
    if existing is not None and existing != data:
        standing = parse_record(Manifest, existing, uri=layout.manifest)
        check_identity(standing, uri=layout.manifest, job=layout.job, run_id=layout.run_id)
        return CommitResult(manifest=standing, written=False)
    if manifest.state == RunStateName.SUCCEEDED:  # a rejected run is committed, but never the latest
        move_latest(storage, layout, manifest, only_from=latest_only_from)  # ours, or an earlier put's
    return CommitResult(manifest=manifest, written=True)


def _put_or_read(storage: Storage, uri: str, data: bytes) -> bytes | None:
    """Put if absent and return None; if present, return what is there."""
    try:
        storage.write_bytes(uri, data, if_none_match=True)
    except AlreadyExists:
        return storage.read_bytes(uri)
    return None


def move_latest(
    storage: Storage, layout: RunLayout, manifest: Manifest, *, attempts: int = 10, only_from: str | None = None
) -> bool:
    """Compare-and-swap the job's `latest` to this run, unless it names a newer committed run (or,
    with `only_from`, unless it names a run other than that one or this one).

    Returns True if `latest` now names this run.
    """
    ours = LatestPointer(run_id=layout.run_id, finished_at=manifest.finished_at)
    try:
        for attempt in conflicts(attempts):  # another commit may move it between our read and write
            with attempt:
                try:
                    stored, version = with_retries(partial(storage.read_versioned, layout.latest))
                    current = parse_record(LatestPointer, stored, uri=layout.latest)
                except FileNotFoundError:
                    version, current = None, None
                if current and (current.finished_at, current.run_id) > (ours.finished_at, ours.run_id):
                    return False
                if only_from is not None and (current.run_id if current else None) not in (only_from, layout.run_id):
                    return False
                swap(storage, layout.latest, ours.model_dump_json().encode(), version=version)
                return True
    except ConditionFailed:
        raise JobError(f"{layout.latest}: could not move the pointer after {attempts} attempts") from None
    raise AssertionError("unreachable")
