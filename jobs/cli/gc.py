"""`pressroom gc`: delete a job's files that no committed manifest lists."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    gc = sub.add_parser("gc", parents=[common], help="delete a job's files that no committed manifest lists")
    gc.set_defaults(handler=command)
    gc.add_argument("job", help="job name")
    gc.add_argument("--output-uri", required=True, help="the jobs' output root (output.uri)")
    gc.add_argument("--grace-hours", type=float, default=24.0, help="keep unlisted files younger than this")
    gc.add_argument("--keep-runs", type=int, metavar="N",
                    help="also delete committed runs older than the newest N (never the latest)")
    gc.add_argument("--keep-days", type=float, metavar="D",
                    help="also delete committed runs older than D days (with --keep-runs: either rule keeps a run)")
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    gc.add_argument("--json", action="store_true", help="print a JSON object")


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.errors import SpecError
    from jobs.state import apply_retention, collect_garbage
    from workers.io import storage_for

    if (args.keep_runs is not None and args.keep_runs < 1) or (args.keep_days is not None and args.keep_days <= 0):
        raise SpecError("--keep-runs must be at least 1 and --keep-days above 0")
    storage = storage_for(args.output_uri)
    retention = None
    if args.keep_runs is not None or args.keep_days is not None:
        retention = apply_retention(storage, output_uri=args.output_uri, job=args.job, keep_runs=args.keep_runs,
                                    keep_days=args.keep_days, dry_run=args.dry_run)
    report = collect_garbage(
        storage, output_uri=args.output_uri, job=args.job, grace_seconds=args.grace_hours * 3600, dry_run=args.dry_run,
    )
    if args.json:
        print(json.dumps({"deleted": report.deleted, "kept_young": report.kept_young,
                          "committed_runs": report.committed_runs, "kept_live_runs": report.kept_live_runs,
                          "deleted_runs": retention.deleted_runs if retention else [],
                          "dry_run": args.dry_run}))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    if retention:
        for run_id in retention.deleted_runs:
            print(f"{verb} committed run {run_id} (retention)")
    for uri in report.deleted:
        print(f"{verb} {uri}")
    print(f"{verb} {len(report.deleted)} file(s); kept {len(report.kept_young)} younger than the grace "
          f"period and {len(report.kept_live_runs)} uncommitted run(s) still live or recent; "
          f"{report.committed_runs} committed run(s) kept whole")
    return 0
