"""`pressroom show`: summarize a committed run, optionally re-checking every file."""

from __future__ import annotations

import argparse
import json


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    show = sub.add_parser("show", parents=[common], help="summarize a committed run")
    show.set_defaults(handler=command)
    show.add_argument("target", help="a run directory or its _manifest.json")
    show.add_argument("--verify", action="store_true", help="re-read every file and check its sha256")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.state import load_committed, verify_files

    manifest, run_dir = load_committed(args.target)
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
