"""`pressroom plan SPEC --deadline 6h`: replicas and GPUs that finish the next run in time."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    plan = sub.add_parser(
        "plan",
        parents=[common],
        help="a capacity plan: replicas and GPUs that finish the spec's next run within a deadline",
    )
    plan.set_defaults(handler=command)
    plan.add_argument("spec", help="path to the job spec (YAML)")
    plan.add_argument("--deadline", required=True, help="the nightly window, e.g. 6h, 90m, 1h30m")
    plan.add_argument("--accelerator", help="plan for this accelerator type (default: resources.accelerator_type)")
    plan.add_argument(
        "--calibrate",
        type=int,
        metavar="ROWS",
        help="measure throughput with a short run of the spec on its first ROWS rows (scratch output)",
    )
    plan.add_argument("--replicas", type=int, metavar="N", help="predict how long N replicas take instead")
    plan.add_argument("--output-uri", help="override output.uri (where earlier runs are measured)")
    plan.add_argument("--address", help="Ray cluster for --calibrate (default: a private local Ray)")
    plan.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def command(args) -> int:
    """Plan; returns the exit code (0 fits the deadline, 1 it does not even as planned)."""
    from jobs.cli.console import diverted_console
    from jobs.errors import SpecError
    from jobs.run import parse_duration, size_capacity
    from jobs.spec import load_spec

    if args.replicas is not None and args.replicas < 1:
        raise SpecError("--replicas must be at least 1")
    spec = load_spec(args.spec, output_uri=args.output_uri)
    with diverted_console(json_mode=args.json, verbose=args.verbose) as console:
        plan = size_capacity(
            spec,
            deadline_seconds=parse_duration(args.deadline),
            accelerator=args.accelerator,
            calibrate_rows=args.calibrate,
            replicas=args.replicas,
            address=args.address,
        )
        if args.json:
            print(json.dumps(plan.as_dict()), file=console.out)
        else:
            verdict = "fits" if plan.fits else "does NOT fit"
            print(
                f"plan for job {plan.job}: {plan.replicas} replica(s), {plan.gpus:g} GPU(s); predicted "
                f"{plan.predicted_seconds:.0f} s, {verdict} the {plan.deadline_seconds:.0f} s deadline",
                file=console.out,
            )
            print("assumptions:", file=console.out)
            for line in plan.assumptions:
                print(f"  - {line}", file=console.out)
    return 0 if plan.fits else 1
