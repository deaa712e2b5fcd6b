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
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    gc.add_argument("--json", action="store_true", help="print a JSON object")


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.state import collect_garbage
    from workers.io import storage_for

    report = collect_garbage(
        storage_for(args.output_uri), output_uri=args.output_uri, job=args.job,
        grace_seconds=args.grace_hours * 3600, dry_run=args.dry_run,
    )
    if args.json:
        print(json.dumps({"deleted": report.deleted, "kept_young": report.kept_young,
                          "committed_runs": report.committed_runs, "kept_live_runs": report.kept_live_runs,
                          "dry_run": args.dry_run}))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for uri in report.deleted:
        print(f"{verb} {uri}")
    print(f"{verb} {len(report.deleted)} file(s); kept {len(report.kept_young)} younger than the grace "
          f"period and {len(report.kept_live_runs)} uncommitted run(s) still live or recent; "
          f"{report.committed_runs} committed run(s) kept whole")
    return 0
