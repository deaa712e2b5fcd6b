"""Garbage collection: delete files of a job that no committed manifest lists.

Kept: every committed run's manifest, plan, shard records and listed data files, and the job's
`latest` pointer. Everything else under `{output}/{job}/runs/` (orphaned data files, abandoned
runs) is deleted once older than a grace period, so a run still in progress is never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from jobs.state.paths import MANIFEST_NAME, PLAN_NAME, SHARDS_DIR, JobLayout
from schemas.manifest import Manifest
from workers.io import Storage, join


@dataclass(frozen=True)
class GcReport:
    """What gc found and did."""

    deleted: list[str]
    kept_young: list[str]
    committed_runs: int


def _protected(storage: Storage, files: list[str]) -> tuple[set[str], int]:
    """Files that committed manifests own (including the manifests), and how many runs."""
    keep: set[str] = set()
    runs = 0
    for uri in files:
        if not uri.endswith("/" + MANIFEST_NAME):
            continue
        run_dir = uri[: -len(MANIFEST_NAME) - 1]
        manifest = Manifest.model_validate_json(storage.read_bytes(uri))
        keep.add(uri)
        keep.add(join(run_dir, PLAN_NAME))
        keep.update(join(run_dir, entry.path) for entry in manifest.files)
        keep.update(f for f in files if f.startswith(join(run_dir, SHARDS_DIR) + "/"))
        runs += 1
    return keep, runs


def collect_garbage(
    storage: Storage, *, output_uri: str, job: str, grace_seconds: float, dry_run: bool = False
) -> GcReport:
    """Delete unlisted files older than grace_seconds (or only report them with dry_run)."""
    files = storage.list_files(JobLayout(output_uri=output_uri, job=job).runs_dir)
    keep, runs = _protected(storage, files)
    now_ns = time.time_ns()
    deleted: list[str] = []
    young: list[str] = []
    for uri in files:
        if uri in keep:
            continue
        modified = storage.stat(uri).mtime_ns
        if modified is None or now_ns - modified < grace_seconds * 1e9:  # unknown age: keep
            young.append(uri)
            continue
        if not dry_run:
            storage.delete(uri)
        deleted.append(uri)
    return GcReport(deleted=deleted, kept_young=young, committed_runs=runs)
