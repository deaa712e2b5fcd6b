"""A DuckDB connection over committed outputs, with the views data teams query.

- `outputs`: every committed run's rows, each data-file column under its own name, plus `job`,
  `run_id` and `row_id` (the run's id column as text); columns are unioned by name across runs
  and jobs (a run with extra columns breaks nothing; older runs read NULL there).
- `latest`: for each job, the rows of the run its `latest` pointer names.
- `errors`: output rows carrying an error_code.
- `runs`: one row per committed manifest (state, totals, lineage, sampling, timings, throughput).
- `changes(job, run_a, run_b)`: a table macro, rows added, removed or whose text changed; a run
  may be named 'latest', and a run that is not committed is an error, never an empty answer.

Local files are scanned by DuckDB's own `read_parquet` over the manifests' file lists; object
storage through a pyarrow dataset on pressroom's own S3 filesystem (DuckDB's httpfs is not
available offline), registered with DuckDB, which streams from it.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from jobs.query.lineage import runs_table
from jobs.query.sources import CommittedRun, CommittedRuns
from workers.io import scheme_of, storage_for

GLOB = re.compile(r"[*?\[\]{}]")
EMPTY_OUTPUTS = (
    "SELECT NULL::VARCHAR AS job, NULL::VARCHAR AS run_id, NULL::VARCHAR AS row_id, "
    "NULL::INTEGER AS sample_index, NULL::VARCHAR AS text, "
    "NULL::VARCHAR AS error_code, NULL::VARCHAR AS error_message, NULL::VARCHAR AS generation_key "
    "WHERE false"
)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source(con: duckdb.DuckDBPyConnection, run: CommittedRun, number: int) -> tuple[str, str]:
    """A FROM clause reading exactly the run's listed files, and the run's id column. DuckDB's
    `read_parquet` expands glob characters in the names it is given: a path holding any (the
    manifest's own paths never do; an output root might) is read through Arrow instead."""
    files = run.files
    if scheme_of(run.run_dir) in ("", "file") and not any(GLOB.search(f) for f in files):
        id_column = run.manifest.id_column or pq.read_schema(files[0]).names[0]
        return f"read_parquet([{', '.join(_quoted(f) for f in files)}], union_by_name = true)", id_column
    storage = storage_for(run.run_dir)
    filesystem, _ = storage.arrow_filesystem(files[0])
    dataset = pads.dataset([storage.arrow_filesystem(f)[1] for f in files], filesystem=filesystem, format="parquet")
    name = f"_run_{number}"
    con.register(name, dataset)
    return name, run.manifest.id_column or dataset.schema.names[0]


def quoted_identifier(name: str) -> str:
    """A column name as a DuckDB identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _select(con: duckdb.DuckDBPyConnection, run: CommittedRun, number: int) -> str:
    """The run's rows under its job and run id; a run written when BLEU and chrF were 0..100 has
    those columns divided by 100 here, so every night reads on 0..1."""
    source, id_column = _source(con, run, number)
    percent = [f"{quoted_identifier(c)} / 100 AS {quoted_identifier(c)}" for c in run.manifest.percent_score_columns]
    columns = f"* REPLACE ({', '.join(percent)})" if percent else "*"
    return (
        f"SELECT {_quoted(run.job)} AS job, {_quoted(run.run_id)} AS run_id, "
        f"CAST({quoted_identifier(id_column)} AS VARCHAR) AS row_id, {columns} FROM {source}"
    )


def register_views(con: duckdb.DuckDBPyConnection, committed: CommittedRuns) -> None:
    """Create outputs, latest, errors, runs and changes on the connection."""
    selects = [_select(con, run, i) for i, run in enumerate(committed.runs) if run.manifest.files]
    con.execute("CREATE OR REPLACE VIEW outputs AS " + (" UNION ALL BY NAME ".join(selects) or EMPTY_OUTPUTS))
    pointers = pa.table(
        {
            "job": pa.array(list(committed.latest), pa.string()),
            "run_id": pa.array(list(committed.latest.values()), pa.string()),
        }
    )
    con.register("_latest_pointers", pointers)
    con.execute(
        "CREATE OR REPLACE VIEW latest AS SELECT o.* FROM outputs o "
        "SEMI JOIN _latest_pointers p ON o.job = p.job AND o.run_id = p.run_id"
    )
    con.execute("CREATE OR REPLACE VIEW errors AS SELECT * FROM outputs WHERE error_code IS NOT NULL")
    con.register("_runs", runs_table(committed.runs))
    con.execute("CREATE OR REPLACE VIEW runs AS SELECT * FROM _runs")
    index = pa.table(
        {
            "job": pa.array([run.job for run in committed.runs], pa.string()),
            "run_id": pa.array([run.run_id for run in committed.runs], pa.string()),
            "is_latest": pa.array([committed.latest.get(run.job) == run.run_id for run in committed.runs], pa.bool_()),
        }
    )
    con.register("_run_index", index)
    con.execute(RUN_ID_MACRO)
    con.execute(CHANGES_MACRO)


# A committed run's id from a name ('latest' allowed), or an error naming the job's committed runs.
RUN_ID_MACRO = """
CREATE OR REPLACE MACRO _committed_run_id(job_name, run) AS (
  SELECT CASE WHEN count(*) = 1 THEN any_value(run_id) ELSE error(
    'changes(): no committed run ' || job_name || '/' || run || ' (committed runs of ' || job_name || ': '
    || coalesce((SELECT string_agg(run_id, ', ' ORDER BY run_id) FROM _run_index WHERE job = job_name), 'none')
    || '; latest names the newest)') END
  FROM _run_index WHERE job = job_name AND (run_id = run OR (run = 'latest' AND is_latest))
)
"""


# Rows of run_b against run_a of one job, keyed by (row_id, sample_index): added, removed, or
# text changed. row_id is the run's id column as text, added to every view.
CHANGES_MACRO = """
CREATE OR REPLACE MACRO changes(job_name, run_a, run_b) AS TABLE
WITH ids AS (SELECT _committed_run_id(job_name, run_a) AS a, _committed_run_id(job_name, run_b) AS b),
     a AS (SELECT * FROM outputs WHERE job = job_name AND run_id = (SELECT a FROM ids)),
     b AS (SELECT * FROM outputs WHERE job = job_name AND run_id = (SELECT b FROM ids)),
     keyed_a AS (SELECT row_id, sample_index, text FROM a),
     keyed_b AS (SELECT row_id, sample_index, text FROM b)
SELECT CASE WHEN keyed_a.row_id IS NULL THEN 'added' WHEN keyed_b.row_id IS NULL THEN 'removed'
            ELSE 'changed' END AS change,
       coalesce(keyed_b.row_id, keyed_a.row_id) AS row_id,
       coalesce(keyed_b.sample_index, keyed_a.sample_index) AS sample_index,
       keyed_a.text AS text_a, keyed_b.text AS text_b
FROM keyed_a FULL OUTER JOIN keyed_b
  ON keyed_a.row_id = keyed_b.row_id AND keyed_a.sample_index = keyed_b.sample_index
WHERE keyed_a.row_id IS NULL OR keyed_b.row_id IS NULL OR keyed_a.text IS DISTINCT FROM keyed_b.text
"""
