"""Garbage collection: delete what no committed manifest lists, deciding run by run.

A committed run keeps its manifest, plan, lease, state, publish record, shard records and every file its manifest
lists; anything else in it (a stalled attempt's data file) goes once older than the grace
period. An uncommitted run is kept whole while its lease is live or while its newest file is
younger than the grace period (a long run stays intact); otherwise it was abandoned and goes
whole. One listing with metadata: no request per object.

What gc cannot read it never deletes: a run folder whose name is not a run id, a committed run
whose manifest, or an uncommitted run whose lease, is invalid stays whole and is named.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from jobs.errors import InputError
from jobs.state.lease import is_live, read_lease
from jobs.state.paths import (
    LEASE_NAME,
    MANIFEST_NAME,
    PLAN_NAME,
    PUBLISHED_NAME,
    SHARDS_DIR,
    STATE_NAME,
    JobLayout,
    RunLayout,
)
from jobs.state.read import read_manifest
from schemas.names import is_run_id
from workers.io import ObjectInfo, Storage, join


@dataclass(frozen=True)
class GcReport:
    """What gc found and did."""

    deleted: list[str]
    kept_young: list[str]
    committed_runs: int
    kept_live_runs: list[str]
    unreadable: list[str] = field(default_factory=list)


def _committed_keep(storage: Storage, run: RunLayout, names: set[str]) -> set[str]:
    manifest = read_manifest(storage, run)
    if manifest is None:
        raise InputError(f"{run.manifest} went away while gc looked at the run")
    run_dir = run.run_dir
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
        run_id = layout.run_id_of(info.uri)
        if run_id is not None:
            runs[run_id].append(info)
    now_ns = time.time_ns()

    def young(info: ObjectInfo) -> bool:  # unknown age counts as young: keep
        return info.mtime_ns is None or now_ns - info.mtime_ns < grace_seconds * 1e9

    deleted: list[str] = []
    kept_young: list[str] = []
    kept_live: list[str] = []
    unreadable: list[str] = []
    committed = 0
    for run_id, objects in sorted(runs.items()):
        if not is_run_id(run_id):
            unreadable.append(f"{join(layout.runs_dir, run_id)}: not a run id, kept as it is")
            continue
        run = layout.run(run_id)
        names = {o.uri for o in objects}
        try:
            if run.manifest in names:
                keep = _committed_keep(storage, run, names)
                committed += 1
                candidates = [o for o in objects if o.uri not in keep]
            else:
                lease = read_lease(storage, run)
                if (lease is not None and is_live(lease[0])) or any(young(o) for o in objects):
                    kept_live.append(run.run_dir)
                    continue
                candidates = objects
        except InputError as exc:
            unreadable.append(f"{exc}; the run is kept whole")
            continue
        for info in candidates:
            if young(info):
                kept_young.append(info.uri)
                continue
            if not dry_run:
                storage.delete(info.uri)
            deleted.append(info.uri)
    return GcReport(
        deleted=deleted,
        kept_young=kept_young,
        committed_runs=committed,
        kept_live_runs=kept_live,
        unreadable=unreadable,
    )
