"""`pressroom show`: summarize a committed run, optionally re-checking every file."""

from __future__ import annotations

import argparse
import json
import sys

from jobs.cli.target import add_root_arguments


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    show = sub.add_parser("show", parents=[common], help="summarize a committed run")
    show.set_defaults(handler=command)
    show.add_argument(
        "target", help="JOB/RUN, JOB/latest or JOB (under the output root), or a run directory or its _manifest.json"
    )
    add_root_arguments(show)
    show.add_argument("--verify", action="store_true", help="re-read every file and check its sha256")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _run_dir(args) -> str:
    """The run directory the target names: itself if it is one (a URI, or a path that exists),
    else JOB/RUN, JOB/latest or JOB under the output root."""
    from pathlib import Path

    from jobs.cli.target import named_run
    from jobs.state import RunLayout
    from workers.io import scheme_of

    if scheme_of(args.target) or Path(args.target).exists():
        return args.target
    root, job, run = named_run(args, args.target)
    return RunLayout(output_uri=root, job=job, run_id=run).run_dir


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.quality import truncation_warning
    from jobs.state import load_committed, verify_files

    manifest, run_dir = load_committed(_run_dir(args))
    warning = truncation_warning(manifest)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    problems = verify_files(manifest, run_dir) if args.verify else []
    if args.json:
        data = manifest.model_dump(mode="json")
        if args.verify:
            data["verify"] = {"ok": not problems, "problems": problems}
        print(json.dumps(data, indent=2))
    else:
        totals = manifest.totals
        print(f"job {manifest.job}  run {manifest.run_id}  {manifest.status}  finished {manifest.finished_at}")
        print(
            f"model {manifest.model.source} ({manifest.model.engine}, {manifest.model.engine_version}) "
            f"sha256 {manifest.model.sha256[:12]}"
        )
        print(
            f"rows {totals.rows_in} in, {totals.rows_ok} ok, {totals.rows_failed} failed; "
            f"tokens {totals.input_tokens} in, {totals.output_tokens} out"
        )
        if manifest.errors:
            print("errors: " + ", ".join(f"{k}={v}" for k, v in manifest.errors.items()))
        for entry in manifest.files:
            print(f"  {entry.path}  {entry.rows} rows  {entry.bytes} bytes  {entry.sha256[:12]}")
        if args.verify:
            print("verify: ok" if not problems else "verify: FAILED\n  " + "\n  ".join(problems))
    return 1 if problems else 0
