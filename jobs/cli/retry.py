"""`pressroom retry JOB/RUN`: a new run that generates again only the retryable failed rows."""

from __future__ import annotations

import argparse

from jobs.cli.console import diverted_console


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    retry = sub.add_parser(
        "retry",
        parents=[common],
        help="a new run regenerating only rows whose error is "
        "retryable (engine_error, empty_output, "
        "invalid_structured_output); the rest is copied",
    )
    retry.set_defaults(handler=command)
    retry.add_argument("target", help="JOB/RUN, JOB/latest or JOB: the committed run to retry")
    retry.add_argument("--spec", required=True, help="the job's spec (a changed spec regenerates what it changes)")
    retry.add_argument("--output-uri", help="override output.uri")
    retry.add_argument("--run-id", help="the new run's id (default: a new one)")
    retry.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def command(args) -> int:
    """Run the retry; returns the exit code."""
    from jobs.cli.run import _run_summary, exit_code, report_run
    from jobs.cli.target import job_and_run
    from jobs.cli.target import run_id as named_id
    from jobs.errors import SpecError
    from jobs.run import RunOptions, check_run_id, run_job
    from jobs.spec import load_spec

    job, original = job_and_run(args.target)
    if args.run_id is not None:
        check_run_id(args.run_id)
    spec = load_spec(args.spec, output_uri=args.output_uri)
    if spec.name != job:
        raise SpecError(f"{args.spec} is job {spec.name!r}, not {job!r}")
    original = named_id(spec.output.uri, job, original)
    with diverted_console(json_mode=args.json, verbose=args.verbose) as console:
        human = console.err if args.json else console.out
        options = RunOptions(
            verbose=args.verbose,
            retry_of=original,
            on_start=lambda run_id: print(f"run {run_id} (job {job}, retrying {original})", file=human, flush=True),
        )
        result = run_job(spec, run_id=args.run_id, options=options)
        report_run(result, {**_run_summary(result), "retry_of": original}, json_mode=args.json, console=console)
    return exit_code(result)
