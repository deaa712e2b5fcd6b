"""The read side of run state, for every module: plans, shard records, manifests, checksums.

Readers trust only files a committed manifest lists. Every record is validated as it is read:
a manifest or shard record whose file paths leave the run directory (absolute, `..`, a scheme)
is refused with InputError (exit 2), even when the bytes it points at match their checksum.
"""

from __future__ import annotations

import hashlib
import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from jobs.errors import InputError
from jobs.state.paths import MANIFEST_NAME, PLAN_NAME, JobLayout, RunLayout, run_dir_of
from schemas.manifest import Manifest, RunPlan, ShardRecord
from schemas.state import PublishRecord
from workers.io import Storage, join, storage_for

Record = TypeVar("Record", bound=BaseModel)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of bytes, as manifests and shard records write it."""
    return hashlib.sha256(data).hexdigest()


def parse_record(model: type[Record], data: bytes, *, uri: str) -> Record:
    """A state record parsed and validated; InputError naming the file and the field if it is not."""
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InputError(f"{uri} is not a valid {model.__name__}: {field}: {first['msg']}") from None


def _read_if_present(storage: Storage, uri: str, model: type[Record]) -> Record | None:
    try:
        data = storage.read_bytes(uri)
    except FileNotFoundError:
        return None
    return parse_record(model, data, uri=uri)


def read_manifest(storage: Storage, layout: RunLayout) -> Manifest | None:
    """The run's manifest, or None if the run is not committed."""
    return _read_if_present(storage, layout.manifest, Manifest)


def read_published(storage: Storage, layout: RunLayout) -> PublishRecord | None:
    """The Iceberg snapshot the run was published as, or None if it was not (yet)."""
    return _read_if_present(storage, layout.published, PublishRecord)


def read_plan(storage: Storage, layout: RunLayout) -> RunPlan | None:
    """The run's plan, or None if the run never started."""
    return _read_if_present(storage, layout.plan, RunPlan)


def read_latest(storage: Storage, job: JobLayout) -> str | None:
    """The run id the job's `latest` pointer names, or None before its first commit."""
    try:
        data = storage.read_bytes(job.latest)
    except FileNotFoundError:
        return None
    try:
        return str(json.loads(data)["run_id"])
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{job.latest} is not a latest pointer (a JSON object with run_id)") from None


def read_shard_records(storage: Storage, layout: RunLayout) -> dict[int, ShardRecord]:
    """Completion records already written for this run, by shard index."""
    records: dict[int, ShardRecord] = {}
    for uri in storage.list_files(layout.shards_dir):
        if uri.endswith(".json"):
            record = parse_record(ShardRecord, storage.read_bytes(uri), uri=uri)
            records[record.shard] = record
    return records


def uncommitted_runs(storage: Storage, job: JobLayout) -> list[RunPlan]:
    """Plans of the job's runs that have no manifest, oldest first."""
    names = set(storage.list_files(job.runs_dir))
    plans = []
    for uri in sorted(names):
        if uri.endswith("/" + PLAN_NAME) and uri[: -len(PLAN_NAME)] + MANIFEST_NAME not in names:
            plans.append(parse_record(RunPlan, storage.read_bytes(uri), uri=uri))
    return sorted(plans, key=lambda p: (p.created_at, p.run_id))


def committed_manifests(storage: Storage, job: JobLayout) -> list[Manifest]:
    """Manifests of the job's committed runs, oldest commit first."""
    manifests = []
    for uri in storage.list_files(job.runs_dir):
        if uri.endswith("/" + MANIFEST_NAME):
            manifests.append(parse_record(Manifest, storage.read_bytes(uri), uri=uri))
    return sorted(manifests, key=lambda m: (m.finished_at, m.run_id))


def load_committed(target: str) -> tuple[Manifest, str]:
    """The manifest and run directory for a run directory or a manifest path."""
    run_dir = run_dir_of(target)
    storage = storage_for(run_dir)
    manifest_uri = join(run_dir, MANIFEST_NAME)
    try:
        data = storage.read_bytes(manifest_uri)
    except FileNotFoundError:
        raise InputError(f"{run_dir} has no {MANIFEST_NAME}: the run is not committed (or not a run directory)") from None
    return parse_record(Manifest, data, uri=manifest_uri), run_dir


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
