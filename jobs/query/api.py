"""The notebook API behind `jobs.query`: connections, one run as Arrow, a diff of two runs."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from jobs import state
from jobs.errors import InputError
from jobs.query.sources import CommittedRun, load_committed_runs
from jobs.query.views import register_views
from workers.io import scheme_of, storage_for

CHANGE_KINDS = ("added", "removed", "changed")


def connect(output_uri: str, *, job: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views over the root's (or one job's) committed runs."""
    con = duckdb.connect()
    register_views(con, _committed_runs(output_uri, job=job))
    return con


def _committed_runs(output_uri: str, *, job: str | None):
    """The committed runs, those that cannot be read named once on stderr."""
    committed = load_committed_runs(output_uri, job=job)
    state.name_unreadable(committed.unreadable)
    return committed


def _dataset(run: CommittedRun) -> pads.Dataset:
    if scheme_of(run.run_dir) in ("", "file"):
        return pads.dataset(run.files, format="parquet")
    storage = storage_for(run.run_dir)
    filesystem, _ = storage.arrow_filesystem(run.files[0])
    return pads.dataset([storage.arrow_filesystem(f)[1] for f in run.files], filesystem=filesystem, format="parquet")


def _committed(output_uri: str, job: str, run_id: str, *, verify: bool) -> CommittedRun:
    run = _committed_runs(output_uri, job=job).run(job, run_id)
    if verify:
        problems = state.verify_files(run.manifest, run.run_dir)
        if problems:
            raise InputError(f"run {job}/{run.run_id} failed verification: {'; '.join(problems[:5])}")
    return run


def run_batches(
    output_uri: str, job: str, run_id: str = "latest", *, columns: list[str] | None = None, verify: bool = False
) -> pa.RecordBatchReader:
    """A committed run's rows as a stream of record batches (its listed files only)."""
    run = _committed(output_uri, job, run_id, verify=verify)
    if not run.files:
        return pa.RecordBatchReader.from_batches(pa.schema([]), [])
    return _dataset(run).scanner(columns=columns).to_reader()


def open_run(
    output_uri: str, job: str, run_id: str = "latest", *, columns: list[str] | None = None, verify: bool = False
) -> pa.Table:
    """A committed run's rows as one Arrow table."""
    return run_batches(output_uri, job, run_id, columns=columns, verify=verify).read_all()


@dataclass(frozen=True)
class Diff:
    """Rows of run_b against run_a: counts by kind, then the rows (change, row_id, sample_index, text_a, text_b)."""

    job: str
    run_a: str
    run_b: str
    counts: dict[str, int]
    rows: list[dict]


def diff_runs(output_uri: str, job: str, run_a: str, run_b: str, *, limit: int | None = None) -> Diff:
    """Rows added, removed and whose text changed between two committed runs of a job."""
    committed = _committed_runs(output_uri, job=job)
    a, b = committed.run(job, run_a).run_id, committed.run(job, run_b).run_id
    con = duckdb.connect()
    register_views(con, committed)
    found = dict(con.execute("SELECT change, count(*) FROM changes(?, ?, ?) GROUP BY change", [job, a, b]).fetchall())
    sql = "SELECT * FROM changes(?, ?, ?) ORDER BY change, row_id, sample_index" + (
        f" LIMIT {int(limit)}" if limit else ""
    )
    cursor = con.execute(sql, [job, a, b])
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    return Diff(job=job, run_a=a, run_b=b, counts={k: found.get(k, 0) for k in CHANGE_KINDS}, rows=rows)
