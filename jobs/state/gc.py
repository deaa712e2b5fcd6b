"""Garbage collection: delete what no committed manifest lists, deciding run by run.

A committed run keeps its manifest, plan, lease, state, publish record, shard records and every file its manifest
lists; anything else in it (a stalled attempt's data file) goes once older than the grace
period. An uncommitted run is kept whole while its lease is live or while its newest file is
younger than the grace period (a long run stays intact); otherwise it was abandoned and goes
whole. One listing with metadata: no request per object.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from jobs.state.lease import is_live, read_lease
from jobs.state.paths import LEASE_NAME, MANIFEST_NAME, PLAN_NAME, PUBLISHED_NAME, SHARDS_DIR, STATE_NAME, JobLayout
from jobs.state.read import parse_record
from schemas.manifest import Manifest
from workers.io import ObjectInfo, Storage, join


@dataclass(frozen=True)
class GcReport:
    """What gc found and did."""

    deleted: list[str]
    kept_young: list[str]
    committed_runs: int
    kept_live_runs: list[str]


def _committed_keep(storage: Storage, run_dir: str, names: set[str]) -> set[str]:
    manifest = parse_record(Manifest, storage.read_bytes(join(run_dir, MANIFEST_NAME)),
                            uri=join(run_dir, MANIFEST_NAME))
    keep = {join(run_dir, name) for name in (MANIFEST_NAME, PLAN_NAME, LEASE_NAME, STATE_NAME, PUBLISHED_NAME)}
    keep.update(join(run_dir, entry.path) for entry in manifest.files)
    keep.update(n for n in names if n.startswith(join(run_dir, SHARDS_DIR) + "/"))
    return keep


def collect_garbage(
    storage: Storage, *, output_uri: str, job: str, grace_seconds: float, dry_run: bool = False
) -> GcReport:
    """Delete unlisted files older than grace_seconds (or only report them with dry_run)."""
    layout = JobLayout(output_uri=output_uri, job=job)
    runs: dict[str, list[ObjectInfo]] = defaultdict(list)
    for info in storage.list_objects(layout.runs_dir):
        run_dir = layout.run_dir_of(info.uri)
        if run_dir is not None:
            runs[run_dir].append(info)
    now_ns = time.time_ns()

    def young(info: ObjectInfo) -> bool:  # unknown age counts as young: keep
        return info.mtime_ns is None or now_ns - info.mtime_ns < grace_seconds * 1e9

    deleted: list[str] = []
    kept_young: list[str] = []
    kept_live: list[str] = []
    committed = 0
    for run_dir, objects in sorted(runs.items()):
        names = {o.uri for o in objects}
        if join(run_dir, MANIFEST_NAME) in names:
            committed += 1
            keep = _committed_keep(storage, run_dir, names)
            candidates = [o for o in objects if o.uri not in keep]
        else:
            lease = read_lease(storage, layout.run(run_dir.rsplit("/", 1)[1]))
            if (lease is not None and is_live(lease[0])) or any(young(o) for o in objects):
                kept_live.append(run_dir)
                continue
            candidates = objects
        for info in candidates:
            if young(info):
                kept_young.append(info.uri)
                continue
            if not dry_run:
                storage.delete(info.uri)
            deleted.append(info.uri)
    return GcReport(deleted=deleted, kept_young=kept_young, committed_runs=committed, kept_live_runs=kept_live)
