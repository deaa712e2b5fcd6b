"""The read side of run state, for every module: plans, shard records, manifests, checksums.

Nothing read from storage is trusted. Every record is validated where it is parsed, once, here:
its schema (ids and job names by their patterns, file paths plain and inside the run directory),
and its identity: a record must name the job and run of the folder it was found in, so a run
directory copied or moved under another name is refused rather than read as another run.

Single-run reads raise InputError (exit 2) naming the file. Listings skip what they cannot read
and name it (`Unreadable`), once per process on stderr unless the caller collects them: one bad
or newer-version record never takes a reader down, and retention and gc never delete it.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from jobs.errors import InputError
from jobs.state.paths import MANIFEST_NAME, PLAN_NAME, JobLayout, RunLayout, run_path_parts
from schemas.manifest import Manifest, RunPlan, ShardRecord
from schemas.names import is_run_id
from schemas.state import LatestPointer, PublishRecord
from workers.io import Storage, join, storage_for

Record = TypeVar("Record", bound=BaseModel)


@dataclass(frozen=True)
class Unreadable:
    """A stored record a listing skipped, and why."""

    uri: str
    reason: str


_NAMED: set[str] = set()


def name_unreadable(found: list[Unreadable]) -> None:
    """Say on stderr, once per file and process, which records a reader skipped."""
    for item in found:
        if item.uri not in _NAMED:
            _NAMED.add(item.uri)
            print(f"warning: skipped {item.reason}", file=sys.stderr)


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


def check_identity(record: BaseModel, *, uri: str, job: str, run_id: str | None = None) -> None:
    """InputError unless the record names the job (and run) whose folder it was found in."""
    named = (getattr(record, "job", job), getattr(record, "run_id", run_id) if run_id is not None else None)
    if named != (job, run_id):
        where = f"{job}/{run_id}" if run_id is not None else job
        says = f"{named[0]}/{named[1]}" if run_id is not None else named[0]
        raise InputError(
            f"{uri} names {says} but lies in {where}'s folder: a job or run folder copied or moved "
            "under another name is not read (pressroom names every file by its job and run)"
        )


def read_run_record(storage: Storage, uri: str, model: type[Record], layout: RunLayout) -> Record | None:
    """A run's record, validated and checked against the run's folder; None if absent."""
    try:
        data = storage.read_bytes(uri)
    except FileNotFoundError:
        return None
    record = parse_record(model, data, uri=uri)
    check_identity(record, uri=uri, job=layout.job, run_id=layout.run_id)
    return record


def read_manifest(storage: Storage, layout: RunLayout) -> Manifest | None:
    """The run's manifest, or None if the run is not committed."""
    return read_run_record(storage, layout.manifest, Manifest, layout)


def read_published(storage: Storage, layout: RunLayout) -> PublishRecord | None:
    """The Iceberg snapshot the run was published as, or None if it was not (yet)."""
    return read_run_record(storage, layout.published, PublishRecord, layout)


def read_plan(storage: Storage, layout: RunLayout) -> RunPlan | None:
    """The run's plan, or None if the run never started."""
    return read_run_record(storage, layout.plan, RunPlan, layout)


def read_latest(storage: Storage, job: JobLayout) -> str | None:
    """The run id the job's `latest` pointer names, or None before its first commit."""
    try:
        data = storage.read_bytes(job.latest)
    except FileNotFoundError:
        return None
    return parse_record(LatestPointer, data, uri=job.latest).run_id


def read_shard_records(storage: Storage, layout: RunLayout) -> dict[int, ShardRecord]:
    """Completion records already written for this run, by shard index."""
    records: dict[int, ShardRecord] = {}
    for uri in storage.list_files(layout.shards_dir):
        if uri.endswith(".json"):
            record = parse_record(ShardRecord, storage.read_bytes(uri), uri=uri)
            if uri != layout.shard_record(record.shard):
                raise InputError(f"{uri} records shard {record.shard}: a shard record lies under its own shard's name")
            records[record.shard] = record
    return records


class RecordCache:
    """Records read before, by URI and the listing's identity of the object (its ETag, or mtime and
    size): a reader that lists again re-reads only what changed. Records are immutable once written
    (a manifest is never rewritten), so a hit is the same record; an entry not listed any more is
    dropped at the next listing of its folder."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[str, object]] = {}

    def get(self, uri: str, identity: str):
        hit = self._records.get(uri)
        return hit[1] if hit is not None and hit[0] == identity else None

    def put(self, uri: str, identity: str, record) -> None:
        self._records[uri] = (identity, record)

    def keep_only(self, prefix: str, listed: set[str]) -> None:
        for uri in [u for u in self._records if u.startswith(prefix) and u not in listed]:
            del self._records[uri]


def _listed(
    storage: Storage,
    job: JobLayout,
    name: str,
    model: type[Record],
    skipped: list[Unreadable] | None,
    *,
    where: Callable[[str, set[str]], bool] | None = None,
    cache: RecordCache | None = None,
) -> list[Record]:
    """Every run's `name` record under the job (of the runs `where` accepts, given the run id and
    the listing), validated; what cannot be read is skipped and named. With a `cache`, a record
    whose object is unchanged since it was last read is not read again."""
    listing = {info.uri: info.identity for info in storage.list_objects(job.runs_dir)}
    names = set(listing)
    if cache is not None:
        cache.keep_only(job.runs_dir + "/", names)
    found, bad = [], []
    for uri in sorted(names):
        run_id = job.run_id_of(uri)
        if run_id is None or uri != join(job.runs_dir, run_id, name) or (where and not where(run_id, names)):
            continue
        if not is_run_id(run_id):
            bad.append(Unreadable(uri, f"{uri}: the folder {run_id!r} is not a run id"))
            continue
        record = cache.get(uri, listing[uri]) if cache is not None else None
        if record is None:
            try:
                record = read_run_record(storage, uri, model, job.run(run_id))
            except InputError as exc:
                bad.append(Unreadable(uri, str(exc)))
                continue
            if record is not None and cache is not None:
                cache.put(uri, listing[uri], record)
        if record is not None:  # None: deleted since the listing
            found.append(record)
    if skipped is None:
        name_unreadable(bad)
    else:
        skipped.extend(bad)
    return found


def uncommitted_runs(storage: Storage, job: JobLayout, *, skipped: list[Unreadable] | None = None) -> list[RunPlan]:
    """Plans of the job's runs that have no manifest, oldest first (unreadable plans skipped)."""
    plans = _listed(
        storage,
        job,
        PLAN_NAME,
        RunPlan,
        skipped,
        where=lambda run_id, names: join(job.runs_dir, run_id, MANIFEST_NAME) not in names,
    )
    return sorted(plans, key=lambda p: (p.created_at, p.run_id))


def committed_manifests(
    storage: Storage,
    job: JobLayout,
    *,
    skipped: list[Unreadable] | None = None,
    cache: RecordCache | None = None,
) -> list[Manifest]:
    """Manifests of the job's committed runs, oldest commit first. A manifest that cannot be read
    (invalid, a newer format, copied from another run) is skipped and named: given `skipped`, it
    is added there; otherwise named once on stderr. A long-lived reader (the viewer) passes a
    `cache`: a page then costs one listing and the reads of what changed."""
    manifests = _listed(storage, job, MANIFEST_NAME, Manifest, skipped, cache=cache)
    return sorted(manifests, key=lambda m: (m.finished_at, m.run_id))


def load_committed(target: str) -> tuple[Manifest, str]:
    """The manifest and run directory for a run directory (`.../JOB/runs/RUN`) or its manifest's path."""
    from jobs.state.paths import run_dir_of

    run_dir = run_dir_of(target)
    parts = run_path_parts(run_dir)
    if parts is None:
        raise InputError(
            f"{run_dir} is not a run directory (OUTPUT/JOB/runs/RUN): a run is read only where its "
            "job and run ids say it lies"
        )
    output_uri, job, run_id = parts
    layout = RunLayout(output_uri=output_uri, job=job, run_id=run_id)
    manifest = read_manifest(storage_for(run_dir), layout)
    if manifest is None:
        raise InputError(f"{run_dir} has no {MANIFEST_NAME}: the run is not committed (or not a run directory)")
    return manifest, layout.run_dir


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
