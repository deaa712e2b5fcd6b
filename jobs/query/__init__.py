"""Reading committed outputs: DuckDB views, Arrow tables of one run, and diffs of two nights.

The public API for notebooks (`from jobs.query import connect, open_run, run_batches, diff_runs`):

    connect(output_uri, job=None)            -> a DuckDB connection with outputs/latest/errors/runs/changes
    open_run(output_uri, job, run_id="latest", columns=None, verify=False) -> pyarrow.Table
    run_batches(output_uri, job, run_id="latest", columns=None, verify=False) -> pyarrow.RecordBatchReader
    diff_runs(output_uri, job, run_a, run_b, limit=None) -> Diff

Only committed manifests are trusted; `verify=True` re-reads every listed file's checksum first.
Nothing here imports torch or vLLM.
"""

from jobs.query.api import Diff, connect, diff_runs, open_run, run_batches
from jobs.query.lineage import run_row
from jobs.query.sources import CommittedRun, CommittedRuns, load_committed_runs
from jobs.query.views import quoted_identifier, register_views

__all__ = [
    "CommittedRuns",
    "CommittedRun",
    "Diff",
    "connect",
    "diff_runs",
    "load_committed_runs",
    "open_run",
    "quoted_identifier",
    "register_views",
    "run_batches",
    "run_row",
]
