"""`pressroom publish JOB/RUN --spec SPEC`: make a committed run its Iceberg table's snapshot."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    publish = sub.add_parser(
        "publish",
        parents=[common],
        help="publish a committed run as the snapshot of the spec's Iceberg table (once; repairs a crash)",
    )
    publish.set_defaults(handler=command)
    publish.add_argument("target", help="JOB/RUN, JOB/latest or JOB: the committed run")
    publish.add_argument("--spec", required=True, help="the job's spec (its publish.iceberg section)")
    publish.add_argument("--output-uri", help="override output.uri")
    publish.add_argument(
        "--force", action="store_true", help="publish even if the table's current run is newer (a deliberate roll back)"
    )
    publish.add_argument("--json", action="store_true", help="print a JSON object")


def command(args) -> int:
    """Publish; returns the exit code."""
    from jobs.cli.target import job_and_run
    from jobs.cli.target import run_id as named_id
    from jobs.errors import SpecError
    from jobs.publish import publish_committed
    from jobs.spec import load_spec
    from workers.io import storage_for

    job, run = job_and_run(args.target)
    spec = load_spec(args.spec, output_uri=args.output_uri)
    if spec.name != job:
        raise SpecError(f"{args.spec} is job {spec.name!r}, not {job!r}")
    if spec.publish is None:
        raise SpecError(f"{args.spec}: no publish.iceberg section: nowhere to publish")
    run_id = named_id(spec.output.uri, job, run)
    published = publish_committed(spec, storage_for(spec.output.uri), run_id, force=args.force)
    if args.json:
        print(
            json.dumps(
                {
                    "job": job,
                    "run_id": run_id,
                    "table": published.table,
                    "snapshot_id": published.snapshot_id,
                    "new": published.new,
                }
            )
        )
    else:
        verb = "published" if published.new else "already published"
        print(f"{verb}: {job}/{run_id} is snapshot {published.snapshot_id} of {published.table}")
    return 0
