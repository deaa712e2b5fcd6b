"""Retention: delete older committed runs whole, so nightly full copies do not pile up.

A committed run is kept when it is among the newest `keep_runs`, or committed within the last
`keep_days` (with both given, either keeps it); and always when it is the job's latest, when an
uncommitted run's plan reuses from it, or when the caller protects it (a published table that
still references its files). A deleted run loses its manifest first, so no reader ever sees a
committed run with files missing; what a crash leaves behind is an abandoned run that gc removes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from jobs.state.paths import MANIFEST_NAME, JobLayout
from jobs.state.read import committed_manifests, read_latest, uncommitted_runs
from workers.io import Storage, join


@dataclass(frozen=True)
class RetentionReport:
    """Which committed runs retention deleted and kept."""

    deleted_runs: list[str]
    kept_runs: list[str]
    deleted_files: int


def apply_retention(
    storage: Storage, *, output_uri: str, job: str, keep_runs: int | None = None, keep_days: float | None = None,
    protected: frozenset[str] = frozenset(), dry_run: bool = False, now: float | None = None,
) -> RetentionReport:
    """Delete the committed runs neither rule keeps (or only report them with dry_run)."""
    if keep_runs is None and keep_days is None:
        raise ValueError("retention needs keep_runs or keep_days")
    layout = JobLayout(output_uri=output_uri, job=job)
    manifests = committed_manifests(storage, layout)
    now = time.time() if now is None else now
    newest = {m.run_id for m in manifests[-keep_runs:]} if keep_runs else set()
    pinned = {read_latest(storage, layout), *protected}
    pinned |= {plan.reused_from for plan in uncommitted_runs(storage, layout) if plan.reused_from}
    deleted, kept, files = [], [], 0
    for manifest in manifests:
        age_days = (now - datetime.fromisoformat(manifest.finished_at).timestamp()) / 86400
        young = keep_days is not None and age_days < keep_days
        if manifest.run_id in pinned or manifest.run_id in newest or young:
            kept.append(manifest.run_id)
            continue
        deleted.append(manifest.run_id)
        if not dry_run:
            files += _delete_run(storage, layout.run(manifest.run_id).run_dir)
    return RetentionReport(deleted_runs=deleted, kept_runs=kept, deleted_files=files)


def _delete_run(storage: Storage, run_dir: str) -> int:
    manifest = join(run_dir, MANIFEST_NAME)
    rest = [uri for uri in storage.list_files(run_dir) if uri != manifest]
    storage.delete(manifest)  # first: the run stops being committed before any of its files go
    for uri in rest:
        storage.delete(uri)
    return 1 + len(rest)
