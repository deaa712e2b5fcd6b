"""The read side of run state, for every module: plans, shard records, manifests, checksums.

Readers trust only files a committed manifest lists.
"""

from __future__ import annotations

import hashlib

from jobs.errors import InputError
from jobs.state.paths import MANIFEST_NAME, PLAN_NAME, JobLayout, RunLayout, run_dir_of
from schemas.manifest import Manifest, RunPlan, ShardRecord
from workers.io import Storage, join, storage_for


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes, as manifests and shard records write it."""
    return hashlib.sha256(data).hexdigest()


def read_manifest(storage: Storage, layout: RunLayout) -> Manifest | None:
    """The run's manifest, or None if the run is not committed."""
    if not storage.exists(layout.manifest):
        return None
    return Manifest.model_validate_json(storage.read_bytes(layout.manifest))


def read_shard_records(storage: Storage, layout: RunLayout) -> dict[int, ShardRecord]:
    """Completion records already written for this run, by shard index."""
    records: dict[int, ShardRecord] = {}
    for uri in storage.list_files(layout.shards_dir):
        if uri.endswith(".json"):
            record = ShardRecord.model_validate_json(storage.read_bytes(uri))
            records[record.shard] = record
    return records


def uncommitted_runs(storage: Storage, job: JobLayout) -> list[RunPlan]:
    """Plans of the job's runs that have no manifest, oldest first."""
    plans = []
    for uri in storage.list_files(job.runs_dir):
        if uri.endswith("/" + PLAN_NAME) and not storage.exists(uri[: -len(PLAN_NAME)] + MANIFEST_NAME):
            plans.append(RunPlan.model_validate_json(storage.read_bytes(uri)))
    return sorted(plans, key=lambda p: (p.created_at, p.run_id))


def load_committed(target: str) -> tuple[Manifest, str]:
    """The manifest and run directory for a run directory or a manifest path."""
    run_dir = run_dir_of(target)
    storage = storage_for(run_dir)
    manifest_uri = join(run_dir, MANIFEST_NAME)
    if not storage.exists(manifest_uri):
        raise InputError(f"{run_dir} has no {MANIFEST_NAME}: the run is not committed (or not a run directory)")
    return Manifest.model_validate_json(storage.read_bytes(manifest_uri)), run_dir


def verify_files(manifest: Manifest, run_dir: str) -> list[str]:
    """Problems found re-reading every listed file: missing, wrong size, wrong sha256."""
    storage = storage_for(run_dir)
    problems: list[str] = []
    for entry in manifest.files:
        uri = join(run_dir, entry.path)
        if not storage.exists(uri):
            problems.append(f"{entry.path}: missing")
            continue
        data = storage.read_bytes(uri)
        if len(data) != entry.bytes:
            problems.append(f"{entry.path}: {len(data)} bytes, manifest says {entry.bytes}")
        elif sha256_hex(data) != entry.sha256:
            problems.append(f"{entry.path}: sha256 mismatch")
    return problems
