"""`pressroom run`: run or resume a job to a committed manifest."""

from __future__ import annotations

import argparse
import json
import os
import sys

from jobs.cli.console import diverted_console
from jobs.cli.progress import TerminalProgress
from jobs.errors import HeldElsewhere
from schemas.state import RunStateName


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    run = sub.add_parser("run", parents=[common], help="run (or resume) a job to a committed manifest")
    run.set_defaults(handler=command)
    run.add_argument("spec", help="job spec YAML file")
    run.add_argument("--output-uri", help="override output.uri")
    run.add_argument("--run-id", help="run id to use or resume (default: a new one)")
    run.add_argument("--resume", action="store_true", help="resume the job's newest uncommitted run")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and size the run (rows, prompt tokens, rows to generate, estimates) without "
        "writing anything or loading an engine; exit 2 if the estimate exceeds the budget",
    )
    run.add_argument(
        "--wait-lease",
        nargs="?",
        type=float,
        const=float("inf"),
        default=None,
        metavar="SECONDS",
        help="if another driver holds the run, wait for it (at most SECONDS) instead of exiting 3",
    )
    run.add_argument(
        "--address",
        help="join this Ray cluster (GCS address, as Ray takes it); default: $RAY_ADDRESS, else a private local Ray",
    )
    run.add_argument(
        "--slot",
        metavar="ISO_TIME|latest",
        help="claim this cron slot first (latest: the spec schedule's newest due slot); a slot claimed "
        "already has its run resumed, unless that run is committed, skipped on purpose or held by "
        "a live driver (then exit 0: nothing to do)",
    )


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.run import Progress, RunOptions, check_run_id, run_job
    from jobs.spec import load_spec

    if args.run_id is not None:
        check_run_id(args.run_id)
    spec = load_spec(args.spec, output_uri=args.output_uri)
    if args.dry_run:
        return _dry_run(spec, args)
    turn = None
    if args.slot:
        from jobs.schedule import slot_turn

        turn = slot_turn(spec, args.slot, decision="run", by="run", run_id=args.run_id)
        if turn.done:
            return nothing_to_run(spec, turn, turn.done, json_mode=args.json)
        if not turn.took:
            print(
                f"slot {turn.claim.slot} of job {spec.name} was claimed by {turn.claim.claimed_by} and its run "
                f"{turn.run_id} is not committed: resuming it",
                file=sys.stderr,
            )
        args.run_id = turn.run_id
    with diverted_console(json_mode=args.json, verbose=args.verbose) as console:
        human = console.err if args.json else console.out
        bar = TerminalProgress(console.err) if console.err.isatty() else None

        def announce(run_id: str) -> None:
            print(f"run {run_id} (job {spec.name})", file=human, flush=True)

        progress = Progress(rows_total=0, on_update=bar.update if bar else None)
        try:
            options = RunOptions(progress=progress, on_start=announce, verbose=args.verbose,
                                 wait_lease=args.wait_lease, address=args.address)  # fmt: skip
            result = run_job(spec, run_id=args.run_id, resume=args.resume, options=options)
        except Exception as exc:  # every failure names the log it leaves behind
            if isinstance(exc, HeldElsewhere) and turn is not None:  # a --slot caller: the night runs elsewhere
                if console.log_path:
                    os.unlink(console.log_path)
                return nothing_to_run(spec, turn, f"in progress elsewhere: {exc}", json_mode=args.json, out=console.out)
            if console.log_path:
                exc.args = (f"{exc} (engine and Ray logs: {console.log_path})",)
            raise
        finally:
            if bar:
                bar.close()
        if console.log_path:
            os.unlink(console.log_path)  # nothing went wrong: the libraries' chatter is not kept
        summary = _run_summary(result)
        if summary["already_committed"]:
            print(f"run {summary['run_id']} is already committed; nothing written", file=human)
        report_run(result, summary, json_mode=args.json, console=console)
    return exit_code(result)


def nothing_to_run(spec, turn, why: str, *, json_mode: bool, out=None) -> int:
    """A `--slot` caller with nothing to do (committed, skipped, in progress elsewhere): exit 0,
    so a doubled cron tick or a retried orchestrator task never fails and never runs twice."""
    print(f"slot {turn.claim.slot} of job {spec.name}: {why}; nothing to run here", file=sys.stderr)
    if json_mode:
        print(
            json.dumps(
                {
                    "job": spec.name,
                    "slot": turn.claim.slot,
                    "run_id": turn.run_id,
                    "claimed": turn.took,
                    "nothing_to_run": why,
                }
            ),
            file=out or sys.stdout,
            flush=True,
        )
    return 0


def report_run(result, summary: dict, *, json_mode: bool, console) -> None:
    """The finished run: one JSON object on stdout, or the human summary."""
    if json_mode:
        print(json.dumps(summary), file=console.out, flush=True)
    else:
        _print_run(summary, file=console.out)
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=console.err, flush=True)


def exit_code(result) -> int:
    """0 for a committed run, 1 (with one line naming the missed gate) for a rejected one."""
    if result.manifest.state == RunStateName.REJECTED:
        print(
            f"error: run {result.manifest.run_id} rejected by quality.gate (committed, latest not moved): "
            + "; ".join(result.manifest.rejected_because),
            file=sys.stderr,
        )
        return 1
    return 0


def _dry_run(spec, args) -> int:
    from jobs.run import estimate_run

    estimate = estimate_run(spec, run_id=args.run_id)
    if args.json:
        print(json.dumps(estimate.as_dict()))
    else:
        unknown = "unknown (no earlier runs)" if not estimate.history_runs else "unknown"
        tokens = estimate.estimated_output_tokens
        seconds = estimate.estimated_seconds
        print(f"dry run of job {spec.name}: nothing written")
        print(
            f"rows: {estimate.rows} ({estimate.rows_reused} reused, {estimate.rows_to_generate} to generate, "
            f"{estimate.engine_requests} engine requests)"
            + (f"; reusing run {estimate.reused_from}" if estimate.reused_from else "")
        )
        print(
            f"prompt tokens: {estimate.input_tokens}"
            + ("" if estimate.input_tokens_exact else " (text only: images not counted)")
        )
        print(f"estimated output tokens: {tokens if tokens is not None else unknown}")
        print(
            f"estimated seconds: {seconds if seconds is not None else unknown}"
            + (f" (from {estimate.history_runs} earlier run(s))" if estimate.history_runs else "")
        )
    for line in estimate.over_budget:
        print(f"over budget: {line}", file=sys.stderr)
    return 2 if estimate.over_budget else 0


def _run_summary(result) -> dict:
    manifest = result.manifest
    generate_seconds = manifest.timings.get("generate", 0.0)
    rate = manifest.totals.output_tokens / generate_seconds if generate_seconds > 0 else None
    from jobs.quality import truncation_warning
    from jobs.state import DATA_DIR, run_dir_of
    from workers.io import join

    run_dir = run_dir_of(result.manifest_uri)
    return {
        "job": manifest.job,
        "run_id": manifest.run_id,
        "status": manifest.status,
        "state": manifest.state,
        "already_committed": not result.written,
        "manifest_uri": result.manifest_uri,
        "data_uri": join(run_dir, DATA_DIR) + "/",
        "totals": manifest.totals.model_dump(),
        "errors": manifest.errors,
        "scores": {m: s.model_dump() for m, s in manifest.scores.items()},
        "rejected_because": manifest.rejected_because,
        "warnings": [w for w in [truncation_warning(manifest)] if w],
        "output_tokens_per_second": round(rate, 1) if rate else None,
        "timings": manifest.timings,
        "published": [
            {"run_id": p.run_id, "table": p.table, "snapshot_id": p.snapshot_id, "new": p.new} for p in result.published
        ],
    }


def _print_run(summary: dict, *, file) -> None:
    totals = summary["totals"]
    print(
        f"{summary['status']}: {totals['rows_in']} rows ({totals['rows_ok']} ok, "
        f"{totals['rows_failed']} failed), {totals['output_tokens']} tokens generated"
        + (f", {summary['output_tokens_per_second']} tok/s" if summary["output_tokens_per_second"] else ""),
        file=file,
    )
    if summary["errors"]:
        print("errors: " + ", ".join(f"{k}={v}" for k, v in summary["errors"].items()), file=file)
    print(f"outputs:  {summary['data_uri']}", file=file)
    print(f"manifest: {summary['manifest_uri']}", file=file)
    for published in summary["published"]:
        print(
            f"iceberg:  {published['table']} snapshot {published['snapshot_id']} (run {published['run_id']}"
            + ("" if published["new"] else ", published earlier")
            + ")",
            file=file,
        )
