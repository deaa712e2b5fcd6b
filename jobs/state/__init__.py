"""Run state: the one place that builds run paths, the only writer, the lease, and the read side.

Every other module reads run state through `jobs.state.read` (re-exported here) and writes it
only through `jobs.state.write` and `jobs.state.lease`.
"""

from jobs.state.gc import GcReport, collect_garbage
from jobs.state.lease import (
    RunLease,
    describe,
    holder_gone,
    holder_running_here,
    is_live,
    lease_ttl,
    read_lease,
    take_lease,
)
from jobs.state.paths import (
    DATA_DIR,
    LEASE_NAME,
    MANIFEST_NAME,
    PLAN_NAME,
    PROBE_DIR,
    PUBLISHED_NAME,
    STATE_NAME,
    JobLayout,
    RunLayout,
    run_dir_of,
)
from jobs.state.probe import check_conditional_writes
from jobs.state.read import (
    Unreadable,
    check_identity,
    committed_manifests,
    load_committed,
    name_unreadable,
    parse_record,
    read_latest,
    read_manifest,
    read_plan,
    read_published,
    read_shard_records,
    sha256_hex,
    uncommitted_runs,
    verify_files,
)
from jobs.state.retention import RetentionReport, apply_retention
from jobs.state.notices import pending_notices, remove_notice
from jobs.state.run_state import observe, read_state, record_state, take_pending
from jobs.state.schedule import claim_slot, is_paused, read_claim, read_claims, set_paused
from jobs.state.tally import mean_scores, sum_records, workers_of
from jobs.state.write import (
    CommitResult,
    claim_run_plan,
    commit_manifest,
    move_latest,
    record_published,
    write_shard,
)

__all__ = [
    "DATA_DIR",
    "LEASE_NAME",
    "MANIFEST_NAME",
    "PLAN_NAME",
    "STATE_NAME",
    "CommitResult",
    "GcReport",
    "RetentionReport",
    "apply_retention",
    "JobLayout",
    "RunLayout",
    "RunLease",
    "check_conditional_writes",
    "committed_manifests",
    "claim_slot",
    "holder_gone",
    "is_paused",
    "read_claims",
    "set_paused",
    "claim_run_plan",
    "collect_garbage",
    "commit_manifest",
    "describe",
    "is_live",
    "lease_ttl",
    "load_committed",
    "move_latest",
    "parse_record",
    "read_lease",
    "read_latest",
    "read_manifest",
    "observe",
    "read_plan",
    "read_shard_records",
    "read_state",
    "record_state",
    "run_dir_of",
    "sha256_hex",
    "mean_scores",
    "sum_records",
    "take_lease",
    "uncommitted_runs",
    "verify_files",
    "write_shard",
    "PROBE_DIR",
    "PUBLISHED_NAME",
    "workers_of",
    "read_published",
    "record_published",
    "Unreadable",
    "check_identity",
    "name_unreadable",
    "pending_notices",
    "remove_notice",
    "take_pending",
    "holder_running_here",
    "read_claim",
]
