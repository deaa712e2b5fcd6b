"""The job's Iceberg catalog and table: properties, creation, and which snapshot is which run.

pyiceberg's `load_catalog(name, **properties)` does the catalog work; what pressroom adds is
the default local catalog, the S3 settings pyarrow would not find on its own, and the
snapshot-summary keys that tie a snapshot to a run.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa

from jobs.errors import InputError, JobError
from jobs.retry import conflicts
from jobs.state import PROBE_DIR
from schemas.spec import IcebergSpec
from workers.io import ConditionFailed, s3_settings, scheme_of

RUN_KEY = "pressroom.run-id"
JOB_KEY = "pressroom.job"
FINISHED_KEY = "pressroom.finished-at"
MANIFEST_KEY = "pressroom.manifest"
# pyiceberg (and Iceberg in Java) retries a conflicting commit by re-applying it on the new
# head: for a publisher that would be a second snapshot of one run. pressroom retries itself,
# after checking whether the run is already in the table.
NO_COMMIT_RETRIES = {"commit.retry.num-retries": "0"}
CREATE_ATTEMPTS = 5


class PublishError(JobError):
    """A committed run could not be published (or must not be)."""


def default_catalog(output_uri: str) -> dict[str, str]:
    """A SQLite catalog and warehouse under a local output root."""
    root = Path(urlparse(output_uri).path if output_uri.startswith("file://") else output_uri) / PROBE_DIR / "iceberg"
    root.mkdir(parents=True, exist_ok=True)
    return {"type": "sql", "uri": f"sqlite:///{root / 'catalog.db'}", "warehouse": (root / "warehouse").as_uri()}


def catalog_properties(iceberg: IcebergSpec, output_uri: str) -> dict[str, str]:
    """The spec's catalog properties (or the local default), with pressroom's S3 settings added
    where the warehouse or the data files are in S3 (pyarrow ignores AWS_ENDPOINT_URL)."""
    if iceberg.catalog is None:
        if scheme_of(output_uri) not in ("", "file"):
            raise PublishError("publish.iceberg.catalog is required for an output root in object storage")
        props = default_catalog(output_uri)
    else:
        props = {key: str(value) for key, value in iceberg.catalog.items()}
    if "s3" in (scheme_of(output_uri), scheme_of(props.get("warehouse", ""))):
        endpoint, region = s3_settings()
        if endpoint:
            props.setdefault("s3.endpoint", endpoint)
        props.setdefault("s3.region", region)
    return props


def check_publishable(schema: pa.Schema, columns: list[str], *, where: str) -> None:
    """InputError naming the column if an input column the outputs carry has no Iceberg type
    (e.g. timestamp[ns] in format version 2): before any model loads, not after the commit."""
    from pyiceberg.catalog import Catalog

    for name in columns:
        field = schema.field(name)
        try:  # pyiceberg's own Arrow -> Iceberg conversion, as create_table applies it
            Catalog._convert_schema_if_needed(pa.schema([field]))
        except Exception as exc:
            raise InputError(
                f"{where}: column {name!r} ({field.type}) cannot go into an Iceberg table (publish.iceberg): {exc}"
            ) from None


def load_table(iceberg: IcebergSpec, output_uri: str, *, create_with: pa.Schema | None = None):
    """The job's table; created (namespace too) from `create_with` if absent, else None if absent.

    Concurrent first publishers race to create it: a creation that fails loads the table again.
    """
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    name = iceberg.catalog_name or iceberg.namespace
    try:
        for attempt in conflicts(CREATE_ATTEMPTS):  # another publisher creating it too: load again
            with attempt:
                catalog = load_catalog(name, **catalog_properties(iceberg, output_uri))
                try:
                    return catalog.load_table(iceberg.table)
                except (NoSuchTableError, NoSuchNamespaceError):
                    if create_with is None:
                        return None
                try:
                    catalog.create_namespace_if_not_exists(iceberg.namespace)
                    return catalog.create_table_if_not_exists(
                        iceberg.table, schema=create_with, properties=NO_COMMIT_RETRIES
                    )
                except Exception as exc:  # e.g. another publisher created the namespace first
                    raise _CreationRace(f"{type(exc).__name__}: {exc}") from exc
    except PublishError:
        raise
    except Exception as exc:  # pyiceberg, SQLAlchemy and the store raise their own kinds
        cause = exc.__cause__ if isinstance(exc, _CreationRace) and exc.__cause__ else exc
        raise PublishError(
            f"iceberg catalog {name!r}, table {iceberg.table}: {type(cause).__name__}: {cause}"
        ) from cause
    raise AssertionError("unreachable")


class _CreationRace(ConditionFailed):
    """Creating the table or its namespace failed: another publisher may have made it first."""


def run_of(snapshot) -> str | None:
    """The pressroom run a snapshot published, or None for someone else's snapshot."""
    return (snapshot.summary.additional_properties if snapshot.summary else {}).get(RUN_KEY)


def run_order(snapshot) -> tuple[str, str] | None:
    """(finished_at, run_id) of the run a snapshot published: the order `latest` moves in."""
    props = snapshot.summary.additional_properties if snapshot.summary else {}
    return (props[FINISHED_KEY], props[RUN_KEY]) if RUN_KEY in props and FINISHED_KEY in props else None


def run_snapshots(table) -> dict[str, int]:
    """{run id: snapshot id} for every pressroom snapshot the table still has."""
    return {run: snapshot.snapshot_id for snapshot in table.snapshots() if (run := run_of(snapshot))}
