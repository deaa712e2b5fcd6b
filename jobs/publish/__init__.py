"""Publishing committed runs: each night becomes one snapshot of the job's Iceberg table.

The manifest stays the contract; the table is a view of it that other engines read. A run's
snapshot names the run in its summary, which is what makes publishing exactly once.
"""

from jobs.publish.iceberg import Published, publish_committed, publish_pending, publish_run
from jobs.publish.retain import retain_runs
from jobs.publish.table import PublishError, check_publishable, load_table, run_snapshots

__all__ = [
    "PublishError",
    "Published",
    "check_publishable",
    "load_table",
    "publish_committed",
    "publish_pending",
    "publish_run",
    "retain_runs",
    "run_snapshots",
]
