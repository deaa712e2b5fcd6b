"""Run state under the output root: one module per kind of file, and the one module that writes it.

    paths.py      where every file lives (JobLayout, RunLayout: names checked, never built from a bad one)
    read.py       the read side, for everyone: each record validated once, where it is parsed
    commit.py     writes _run.json, data files, shard records, _manifest.json, latest, _published.json
    lease.py      writes _lease.json: take, renew, check, release, take over
    run_state.py  writes _state.json: transitions by compare-and-swap
    notices.py    writes notices/: run ends waiting for the holder of the job's spec to tell them
    claims.py     writes schedule/{slot}.json and the pause mark
    gc.py         deletes what no committed manifest lists; retention.py deletes whole older runs
    probe.py      refuses stores that ignore conditional writes

Every writer here retries by `jobs.retry`'s one policy. Everything outside the package uses this
face; the run-state arithmetic (totals, scores) is in
`schemas.tally`, next to the manifest.
"""

from jobs.state.claims import claim_slot, is_paused, read_claim, read_claims, set_paused
from jobs.state.commit import (
    CommitResult,
    claim_run_plan,
    commit_manifest,
    move_latest,
    record_published,
    write_shard,
)
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
from jobs.state.notices import pending_notices, remove_notice
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
    RecordCache,
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
from jobs.state.run_state import observe, read_state, record_state, take_pending

__all__ = [
    "DATA_DIR", "LEASE_NAME", "MANIFEST_NAME", "PLAN_NAME", "PROBE_DIR", "PUBLISHED_NAME", "STATE_NAME",
    "CommitResult", "GcReport", "JobLayout", "RecordCache", "RetentionReport", "RunLayout", "RunLease", "Unreadable",
    "apply_retention", "check_conditional_writes", "check_identity", "claim_run_plan", "claim_slot",
    "collect_garbage", "commit_manifest", "committed_manifests", "describe", "holder_gone", "holder_running_here",
    "is_live", "is_paused", "lease_ttl", "load_committed", "move_latest", "name_unreadable", "observe",
    "parse_record", "pending_notices", "read_claim", "read_claims", "read_latest", "read_lease", "read_manifest",
    "read_plan", "read_published", "read_shard_records", "read_state", "record_published", "record_state",
    "remove_notice", "run_dir_of", "set_paused", "sha256_hex", "take_lease", "take_pending", "uncommitted_runs",
    "verify_files", "write_shard",
]  # fmt: skip
