"""The only writer of run state: the plan, data files, shard records, the manifest, `latest`.

Order is the protocol: a shard's data file, then its record (after the file is checked), then,
once every shard has a record, the manifest (a conditional put), then the job's latest pointer.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.state.paths import RunLayout
from jobs.state.read import sha256_hex
from jobs.state.tally import shard_quality, shard_totals
from schemas.manifest import FileEntry, Manifest, RunPlan, ShardRecord
from workers.io import AlreadyExists, ConditionFailed, Storage, join


def write_shard(
    storage: Storage, layout: RunLayout, *, shard: int, input_file: str, row_range: tuple[int, int],
    table: pa.Table, id_column: str, references: dict[str, str] | None = None,
) -> ShardRecord:
    """Write one shard's data file, check it, then write its completion record."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    data_uri = join(layout.run_dir, layout.data_path(shard))
    storage.write_bytes(data_uri, data)
    stored = storage.stat(data_uri)
    if stored.size != len(data):
        raise OSError(f"{data_uri}: wrote {len(data)} bytes, store reports {stored.size}")
    totals, errors = shard_totals(table, id_column=id_column)
    record = ShardRecord(
        shard=shard,
        input_file=input_file,
        row_start=row_range[0],
        row_end=row_range[1],
        file=FileEntry(path=layout.data_path(shard), rows=table.num_rows, bytes=len(data), sha256=sha256_hex(data)),
        totals=totals,
        errors=errors,
        quality=shard_quality(table, references=references or {}),
    )
    storage.write_bytes(layout.shard_record(shard), record.model_dump_json(indent=2).encode())
    return record


def claim_run_plan(storage: Storage, layout: RunLayout, plan: RunPlan) -> RunPlan:
    """Write the run's plan if this is its first start; return the plan that stands."""
    try:
        storage.write_bytes(layout.plan, plan.model_dump_json(indent=2).encode(), if_none_match=True)
    except AlreadyExists:
        return RunPlan.model_validate_json(storage.read_bytes(layout.plan))
    return plan


@dataclass(frozen=True)
class CommitResult:
    """The manifest that stands, and whether this call wrote it."""

    manifest: Manifest
    written: bool


def commit_manifest(storage: Storage, layout: RunLayout, manifest: Manifest, *, attempts: int = 3) -> CommitResult:
    """Put the manifest if absent (If-None-Match), then point `latest` at the run.

    A put whose answer was lost may still have landed: a retry that finds a manifest with our
    exact bytes recognises it as its own and reports success, without a second commit.
    """
    data = manifest.model_dump_json(indent=2).encode()
    for attempt in range(1, attempts + 1):
        try:
            existing = _put_or_read(storage, layout.manifest, data)
        except Exception:  # a transient error, or a 409 whose winner then failed: try again
            if attempt == attempts:
                raise
            continue
        if existing is not None and existing != data:
            return CommitResult(manifest=Manifest.model_validate_json(existing), written=False)
        break  # ours: just written, or an earlier put of ours whose answer was lost
    move_latest(storage, layout, manifest)
    return CommitResult(manifest=manifest, written=True)


def _put_or_read(storage: Storage, uri: str, data: bytes) -> bytes | None:
    """Put if absent and return None; if present, return what is there."""
    try:
        storage.write_bytes(uri, data, if_none_match=True)
    except AlreadyExists:
        return storage.read_bytes(uri)
    return None


def move_latest(storage: Storage, layout: RunLayout, manifest: Manifest, *, attempts: int = 10) -> bool:
    """Compare-and-swap the job's `latest` to this run, unless it names a newer committed run.

    Returns True if `latest` now names this run.
    """
    ours = {"run_id": layout.run_id, "finished_at": manifest.finished_at}
    for _ in range(attempts):
        try:
            version = storage.stat(layout.latest).version
            current = json.loads(storage.read_bytes(layout.latest))
        except FileNotFoundError:
            version, current = None, None
        if current and (current.get("finished_at", ""), current["run_id"]) > (ours["finished_at"], ours["run_id"]):
            return False
        try:
            if version is None:
                storage.write_bytes(layout.latest, json.dumps(ours).encode(), if_none_match=True)
            else:
                storage.write_bytes(layout.latest, json.dumps(ours).encode(), if_match=version)
            return True
        except ConditionFailed:
            continue  # another commit moved it between our read and write: look again
    raise OSError(f"{layout.latest}: could not move the pointer after {attempts} attempts")
