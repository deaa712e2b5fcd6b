"""Retention: delete older committed runs whole, so nightly full copies do not pile up.

A committed run is kept when it is among the newest `keep_runs`, or committed within the last
`keep_days` (with both given, either keeps it); and always when it is the job's latest, when an
uncommitted run's plan reuses from it, or when the caller protects it (a published table that
still references its files). What retention cannot read it never deletes: a run whose manifest
is unreadable is not a candidate, and an unreadable `latest` or uncommitted plan (which could
name any run) stops retention for the job.

A deleted run loses its manifest first, so no reader ever sees a committed run with files
missing. An incremental run may pin a run as the one it reuses from between retention's look at
the plans and its delete: after taking the manifest away, retention looks at the plans again and,
if one now reuses from the run, puts the manifest back and keeps the files (the run's driver,
which checks the manifest after pinning its plan, either found it or reuses nothing).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime

from jobs.errors import InputError
from jobs.state.paths import PLAN_NAME, JobLayout
from jobs.state.read import Unreadable, committed_manifests, read_latest, uncommitted_runs
from workers.io import AlreadyExists, Storage


@dataclass(frozen=True)
class RetentionReport:
    """Which committed runs retention deleted and kept, and what it could not read."""

    deleted_runs: list[str]
    kept_runs: list[str]
    deleted_files: int
    unreadable: list[str]


def apply_retention(
    storage: Storage,
    layout: JobLayout,
    *,
    keep_runs: int | None = None,
    keep_days: float | None = None,
    protected: frozenset[str] = frozenset(),
    dry_run: bool = False,
    now: float | None = None,
) -> RetentionReport:
    """Delete the committed runs neither rule keeps (or only report them with dry_run)."""
    if keep_runs is None and keep_days is None:
        raise ValueError("retention needs keep_runs or keep_days")
    skipped: list[Unreadable] = []
    manifests = committed_manifests(storage, layout, skipped=skipped)
    pinned = set(protected)
    try:
        pinned.add(read_latest(storage, layout))
    except InputError as exc:
        skipped.append(Unreadable(layout.latest, str(exc)))
    pinned |= _reused(storage, layout, skipped)
    unreadable = [item.reason for item in skipped]
    if any(item.uri == layout.latest or item.uri.endswith("/" + PLAN_NAME) for item in skipped):
        # An unreadable latest or plan could name any run: keep them all.
        return RetentionReport(
            deleted_runs=[], kept_runs=[m.run_id for m in manifests], deleted_files=0, unreadable=unreadable
        )
    now = time.time() if now is None else now
    newest = {m.run_id for m in manifests[-keep_runs:]} if keep_runs else set()
    deleted, kept, files = [], [], 0
    for manifest in manifests:
        age_days = (now - datetime.fromisoformat(manifest.finished_at).timestamp()) / 86400
        young = keep_days is not None and age_days < keep_days
        if manifest.run_id in pinned or manifest.run_id in newest or young:
            kept.append(manifest.run_id)
            continue
        if dry_run:
            deleted.append(manifest.run_id)
            continue
        removed = _delete_run(storage, layout, manifest.run_id)
        if removed is None:
            kept.append(manifest.run_id)
        else:
            deleted.append(manifest.run_id)
            files += removed
    return RetentionReport(deleted_runs=deleted, kept_runs=kept, deleted_files=files, unreadable=unreadable)


def _reused(storage: Storage, layout: JobLayout, skipped: list[Unreadable]) -> set[str]:
    """Runs an uncommitted run's plan reuses from."""
    return {plan.reused_from for plan in uncommitted_runs(storage, layout, skipped=skipped) if plan.reused_from}


def _delete_run(storage: Storage, layout: JobLayout, run_id: str) -> int | None:
    """Delete a committed run, manifest first; None if a plan pinned it meanwhile (then kept)."""
    run = layout.run(run_id)
    manifest = storage.read_bytes(run.manifest)
    rest = [uri for uri in storage.list_files(run.run_dir) if uri != run.manifest]
    storage.delete(run.manifest)  # first: the run stops being committed before any of its files go
    late: list[Unreadable] = []
    if run_id in _reused(storage, layout, late) or late:
        # An incremental run pinned it while we looked: it stays committed, files and all.
        with contextlib.suppress(AlreadyExists):
            storage.write_bytes(run.manifest, manifest, if_none_match=True)
        return None
    for uri in rest:
        storage.delete(uri)
    return 1 + len(rest)
