"""Publish a committed run as the table's new snapshot, exactly once.

One snapshot per run: an overwrite that removes the previous night's data files and registers
this run's Parquet files as they are (nothing rewritten). Exactly once because every attempt
first looks for the run's snapshot in the table it just loaded, and a commit succeeds only if
the table's head is still the one it looked at (pyiceberg's ref requirement; its own
re-applying retries are off): a publisher that loses a race reloads and finds the winner's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow.parquet as pq

from jobs.publish.table import (
    FINISHED_KEY,
    JOB_KEY,
    MANIFEST_KEY,
    NO_COMMIT_RETRIES,
    RUN_KEY,
    PublishError,
    load_table,
    run_order,
    run_snapshots,
)
from jobs.retry import conflicts
from jobs.state import (
    JobLayout,
    RunLayout,
    committed_manifests,
    read_latest,
    read_manifest,
    record_published,
)
from schemas.manifest import Manifest
from schemas.spec import JobSpec
from schemas.state import PublishRecord, RunStateName
from workers.io import ConditionFailed, Storage, join

ATTEMPTS = 8


@dataclass(frozen=True)
class Published:
    """A run's snapshot, and whether this call made it."""

    run_id: str
    table: str
    snapshot_id: int
    new: bool


def publish_run(spec: JobSpec, storage: Storage, manifest: Manifest, *, force: bool = False) -> Published:
    """Make the committed run the table's current snapshot (or find that it already was published).

    Refused for a rejected run, and for a run older than the table's current one unless forced.
    """
    iceberg = _iceberg(spec)
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=manifest.run_id)
    if manifest.state != RunStateName.SUCCEEDED:
        raise PublishError(
            f"run {spec.name}/{manifest.run_id} was {manifest.state} "
            f"({'; '.join(manifest.rejected_because) or 'gate'}): a rejected run is never published"
        )
    files = [join(layout.run_dir, entry.path) for entry in manifest.files]
    schema = _schema(storage, files[0]) if files else None
    ours = (manifest.finished_at, manifest.run_id)
    try:
        for attempt in conflicts(ATTEMPTS):  # another writer moved the head: reload, look for our run again
            with attempt:
                table = load_table(iceberg, spec.output.uri, create_with=schema)
                if table is None:
                    raise PublishError(
                        f"run {spec.name}/{manifest.run_id} has no data files: no schema to create {iceberg.table} from"
                    )
                found = run_snapshots(table).get(manifest.run_id)
                if found is not None:
                    return _recorded(storage, layout, spec, table.snapshot_by_id(found), new=False)
                current = table.current_snapshot()
                current_order = run_order(current) if current is not None else None
                if current_order is not None and current_order > ours and not force:
                    raise PublishError(
                        f"run {spec.name}/{manifest.run_id} is older than {current_order[1]}, the table "
                        f"{iceberg.table}'s current run: publishing it would roll the table back "
                        "(pass --force to do that)"
                    )
                snapshot = _commit(table, manifest, files, schema, layout, spec=spec)
                return _recorded(storage, layout, spec, snapshot, new=True)
    except _Conflict:
        raise PublishError(
            f"run {spec.name}/{manifest.run_id}: the table {iceberg.table} kept changing under "
            f"{ATTEMPTS} attempts to publish"
        ) from None
    raise AssertionError("unreachable")


def publish_pending(spec: JobSpec, storage: Storage) -> list[Published]:
    """Publish, oldest first, every committed run newer than the table's current one up to the
    job's latest: the run just committed, and any a crash left committed but unpublished."""
    iceberg = _iceberg(spec)
    job = JobLayout(output_uri=spec.output.uri, job=spec.name)
    latest = read_latest(storage, job)
    if latest is None:
        return []
    manifests = {m.run_id: m for m in committed_manifests(storage, job)}
    if latest not in manifests:
        raise PublishError(f"job {spec.name}: latest names run {latest}, which has no manifest")
    table = load_table(iceberg, spec.output.uri)
    published = run_snapshots(table) if table is not None else {}
    current = table.current_snapshot() if table is not None else None
    floor = (run_order(current) if current is not None else None) or ("", "")
    ceiling = (manifests[latest].finished_at, latest)
    todo = [
        m
        for m in manifests.values()
        if m.state == RunStateName.SUCCEEDED
        and m.run_id not in published
        and floor < (m.finished_at, m.run_id) <= ceiling
    ]
    return [publish_run(spec, storage, m) for m in sorted(todo, key=lambda m: (m.finished_at, m.run_id))]


def publish_committed(spec: JobSpec, storage: Storage, run_id: str, *, force: bool = False) -> Published:
    """`pressroom publish JOB/RUN`: one committed run."""
    layout = RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    manifest = read_manifest(storage, layout)
    if manifest is None:
        raise PublishError(f"run {spec.name}/{run_id} is not committed under {spec.output.uri}: nothing to publish")
    return publish_run(spec, storage, manifest, force=force)


class _Conflict(ConditionFailed):
    """The table's head moved between our load and our commit (or its own commit retries were on:
    now off, start again)."""


def _commit(table, manifest: Manifest, files: list[str], schema, layout: RunLayout, *, spec: JobSpec):
    """One overwrite snapshot: schema evolved to the run's, old files out, the run's files in.
    _Conflict when the head moved, or after only turning the table's own commit retries off."""
    from pyiceberg.exceptions import CommitFailedException
    from pyiceberg.io.pyarrow import parquet_file_to_data_file
    from pyiceberg.table import TableProperties

    properties = {
        RUN_KEY: manifest.run_id,
        JOB_KEY: spec.name,
        FINISHED_KEY: manifest.finished_at,
        MANIFEST_KEY: layout.manifest,
    }
    try:
        if table.metadata.properties.get(TableProperties.COMMIT_NUM_RETRIES) != "0":
            table.transaction().set_properties(**NO_COMMIT_RETRIES).commit_transaction()
            raise _Conflict("the table's own commit retries were on (made elsewhere): now off, start again")
        tx = table.transaction()
        if tx.table_metadata.name_mapping() is None:  # added files carry no field ids: map by name
            tx.set_properties(
                **{TableProperties.DEFAULT_NAME_MAPPING: tx.table_metadata.schema().name_mapping.model_dump_json()}
            )
        if schema is not None:
            with tx.update_schema() as update:
                update.union_by_name(schema)
        previous = list(table.scan().plan_files()) if table.current_snapshot() is not None else []
        with tx.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            for task in previous:
                overwrite.delete_data_file(task.file)
            for uri in files:
                overwrite.append_data_file(parquet_file_to_data_file(table.io, tx.table_metadata, uri))
        committed = tx.commit_transaction()
    except _Conflict:
        raise
    except CommitFailedException as exc:
        raise _Conflict(str(exc)) from exc
    except Exception as exc:
        raise PublishError(
            f"publishing run {spec.name}/{manifest.run_id} to {spec.publish.iceberg.table}: {type(exc).__name__}: {exc}"
        ) from exc
    return committed.snapshot_by_id(run_snapshots(committed)[manifest.run_id])


def _schema(storage: Storage, uri: str):
    """The run's Arrow schema, from its first data file's footer."""
    filesystem, path = storage.arrow_filesystem(uri)
    return pq.read_schema(path, filesystem=filesystem)


def _recorded(storage: Storage, layout: RunLayout, spec: JobSpec, snapshot, *, new: bool) -> Published:
    iceberg = _iceberg(spec)
    at = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")
    record_published(
        storage,
        layout,
        PublishRecord(
            job=spec.name,
            run_id=layout.run_id,
            table=iceberg.table,
            catalog_name=iceberg.catalog_name or iceberg.namespace,
            snapshot_id=snapshot.snapshot_id,
            published_at=at,
        ),
    )
    return Published(run_id=layout.run_id, table=iceberg.table, snapshot_id=snapshot.snapshot_id, new=new)


def _iceberg(spec: JobSpec):
    if spec.publish is None:
        raise PublishError(f"job {spec.name} has no publish.iceberg section in its spec")
    return spec.publish.iceberg
