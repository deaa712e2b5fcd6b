"""Retention that agrees with the table: expire a run's snapshot before deleting its files.

Expiring a snapshot only drops it from the table's metadata (pyiceberg deletes no files), so
the order is: expire the snapshots of the runs retention is about to delete, then delete the
runs no remaining snapshot references (the table's current snapshot can never be expired).
Without the job's spec, a published run is kept: there is no catalog to expire it in.
"""

from __future__ import annotations

from jobs.publish.table import PublishError, load_table, run_of
from jobs.state import JobLayout, RetentionReport, RunLayout, apply_retention, read_published
from schemas.spec import IcebergSpec
from workers.io import Storage


def retain_runs(
    storage: Storage,
    *,
    output_uri: str,
    job: str,
    keep_runs: int | None,
    keep_days: float | None,
    iceberg: IcebergSpec | None,
    dry_run: bool = False,
) -> tuple[RetentionReport, list[str]]:
    """Apply retention; returns the report and the runs kept only because a snapshot needs them."""
    planned = apply_retention(
        storage, JobLayout(output_uri=output_uri, job=job), keep_runs=keep_runs, keep_days=keep_days, dry_run=True
    )
    if iceberg is None:
        held = [
            r
            for r in planned.deleted_runs
            if read_published(storage, RunLayout(output_uri=output_uri, job=job, run_id=r)) is not None
        ]
    else:
        held = _expire(iceberg, output_uri, planned.deleted_runs, dry_run=dry_run)
    if dry_run:
        return planned, held
    report = apply_retention(
        storage,
        JobLayout(output_uri=output_uri, job=job),
        keep_runs=keep_runs,
        keep_days=keep_days,
        protected=frozenset(held),
    )
    return report, held


def _expire(iceberg: IcebergSpec, output_uri: str, runs: list[str], *, dry_run: bool) -> list[str]:
    """Expire the table's snapshots of `runs`; the runs whose snapshot stays (the current one)."""
    if not runs:
        return []
    table = load_table(iceberg, output_uri)
    if table is None:
        return []
    doomed = set(runs)
    current = table.current_snapshot()
    expire = [
        s.snapshot_id
        for s in table.snapshots()
        if run_of(s) in doomed and (current is None or s.snapshot_id != current.snapshot_id)
    ]
    if dry_run:
        remaining = [s for s in table.snapshots() if s.snapshot_id not in expire]
    else:
        if expire:
            try:
                table.maintenance.expire_snapshots().by_ids(expire).commit()
            except Exception as exc:  # keep every run: nothing was deleted yet
                raise PublishError(
                    f"expiring snapshots {expire} of {iceberg.table}: {type(exc).__name__}: {exc}"
                ) from exc
        remaining = load_table(iceberg, output_uri).snapshots()
    return sorted(doomed & {run_of(s) for s in remaining})
