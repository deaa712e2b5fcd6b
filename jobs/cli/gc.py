"""`pressroom gc`: delete a job's files that no committed manifest lists."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    gc = sub.add_parser("gc", parents=[common], help="delete a job's files that no committed manifest lists")
    gc.set_defaults(handler=command)
    gc.add_argument("job", help="job name")
    gc.add_argument(
        "--output-uri", help="the jobs' output root (default: $PRESSROOM_OUTPUT_URI, or --spec's output.uri)"
    )
    gc.add_argument(
        "--spec",
        help="the job's spec: its output root, and its publish.iceberg table, whose snapshots "
        "of deleted runs are expired first (without it a published run is kept)",
    )
    gc.add_argument("--grace-hours", type=float, default=24.0, help="keep unlisted files younger than this")
    gc.add_argument(
        "--keep-runs",
        type=int,
        metavar="N",
        help="also delete committed runs older than the newest N (never the latest)",
    )
    gc.add_argument(
        "--keep-days",
        type=float,
        metavar="D",
        help="also delete committed runs older than D days (with --keep-runs: either rule keeps a run)",
    )
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    gc.add_argument("--json", action="store_true", help="print a JSON object")


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.catalog import check_job
    from jobs.cli.target import output_root
    from jobs.errors import SpecError
    from jobs.publish import retain_runs
    from jobs.spec import load_spec
    from jobs.state import collect_garbage
    from workers.io import storage_for

    if (args.keep_runs is not None and args.keep_runs < 1) or (args.keep_days is not None and args.keep_days <= 0):
        raise SpecError("--keep-runs must be at least 1 and --keep-days above 0")
    spec = load_spec(args.spec, output_uri=args.output_uri) if args.spec else None
    if spec is not None and spec.name != args.job:
        raise SpecError(f"{args.spec} is job {spec.name!r}, not {args.job!r}")
    output_uri = spec.output.uri if spec is not None else output_root(args)  # found as every command finds it
    check_job(output_uri, args.job)  # a typo is exit 2 naming the close matches, not "nothing to delete"
    storage = storage_for(output_uri)
    retention, held = None, []
    if args.keep_runs is not None or args.keep_days is not None:
        iceberg = spec.publish.iceberg if spec is not None and spec.publish else None
        retention, held = retain_runs(
            storage,
            output_uri=output_uri,
            job=args.job,
            keep_runs=args.keep_runs,
            keep_days=args.keep_days,
            iceberg=iceberg,
            dry_run=args.dry_run,
        )
    report = collect_garbage(
        storage,
        output_uri=output_uri,
        job=args.job,
        grace_seconds=args.grace_hours * 3600,
        dry_run=args.dry_run,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "deleted": report.deleted,
                    "kept_young": report.kept_young,
                    "committed_runs": report.committed_runs,
                    "kept_live_runs": report.kept_live_runs,
                    "deleted_runs": [r for r in retention.deleted_runs if r not in held] if retention else [],
                    "kept_for_iceberg": held,
                    "dry_run": args.dry_run,
                }
            )
        )
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    if retention:
        for run_id in retention.deleted_runs:
            if run_id not in held:
                print(f"{verb} committed run {run_id} (retention)")
    for run_id in held:
        print(
            f"kept committed run {run_id}: an Iceberg snapshot still references it"
            + ("" if spec is not None else " (pass --spec to expire its snapshot first)")
        )
    for uri in report.deleted:
        print(f"{verb} {uri}")
    print(
        f"{verb} {len(report.deleted)} file(s); kept {len(report.kept_young)} younger than the grace "
        f"period and {len(report.kept_live_runs)} uncommitted run(s) still live or recent; "
        f"{report.committed_runs} committed run(s) kept whole"
    )
    return 0
