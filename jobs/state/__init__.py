"""Run state: the one place that builds run paths, the only writer, and the read side.

Every other module reads run state through `jobs.state.read` (re-exported here) and writes it
only through `jobs.state.write`.
"""

from jobs.state.gc import GcReport, collect_garbage
from jobs.state.paths import DATA_DIR, MANIFEST_NAME, PLAN_NAME, JobLayout, RunLayout, run_dir_of
from jobs.state.read import (
    load_committed,
    read_manifest,
    read_shard_records,
    sha256_hex,
    uncommitted_runs,
    verify_files,
)
from jobs.state.tally import sum_records
from jobs.state.write import CommitResult, claim_run_plan, commit_manifest, move_latest, write_shard

__all__ = [
    "DATA_DIR", "MANIFEST_NAME", "PLAN_NAME", "CommitResult", "GcReport", "JobLayout", "RunLayout", "claim_run_plan",
    "collect_garbage", "commit_manifest", "load_committed", "move_latest", "read_manifest", "read_shard_records",
    "run_dir_of", "sha256_hex", "sum_records", "uncommitted_runs", "verify_files", "write_shard",
]
