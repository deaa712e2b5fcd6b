"""The `pressroom` command: one group, `--json` for machines, one place that maps errors to exits.

Exit codes: 0 success, 1 job failure, 2 invalid spec or input. Heavy modules (ray, vllm, torch)
are imported only by `run`, and only once a job actually generates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from jobs.errors import PressroomError, SpecError
from jobs.progress import TerminalProgress
from workers.default_model import pressroom_home


# -v also works after the subcommand; SUPPRESS keeps a top-level -v from being reset.
_COMMON = argparse.ArgumentParser(add_help=False)
_COMMON.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="engine and Ray logs, full tracebacks")


def _add_run(sub) -> None:
    run = sub.add_parser("run", parents=[_COMMON], help="run (or resume) a job to a committed manifest")
    run.add_argument("spec", help="job spec YAML file")
    run.add_argument("--output-uri", help="override output.uri")
    run.add_argument("--run-id", help="run id to use or resume (default: a new one)")
    run.add_argument("--resume", action="store_true", help="resume the job's newest uncommitted run")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def _add_validate(sub) -> None:
    validate = sub.add_parser("validate", parents=[_COMMON], help="check a spec and its input without loading a model")
    validate.add_argument("spec", help="job spec YAML file")
    validate.add_argument("--output-uri", help="override output.uri")
    validate.add_argument("--json", action="store_true", help="print a JSON object")


def _add_show(sub) -> None:
    show = sub.add_parser("show", parents=[_COMMON], help="summarize a committed run")
    show.add_argument("target", help="a run directory or its _manifest.json")
    show.add_argument("--verify", action="store_true", help="re-read every file and check its sha256")
    show.add_argument("--json", action="store_true", help="print the manifest as JSON")


def _add_gc(sub) -> None:
    gc = sub.add_parser("gc", parents=[_COMMON], help="delete a job's files that no committed manifest lists")
    gc.add_argument("job", help="job name")
    gc.add_argument("--output-uri", required=True, help="the jobs' output root (output.uri)")
    gc.add_argument("--grace-hours", type=float, default=24.0, help="keep unlisted files younger than this")
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    gc.add_argument("--json", action="store_true", help="print a JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pressroom", description="Batch content generation: Parquet prompts in, Parquet + manifest out."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="engine and Ray logs, full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_validate(sub)
    _add_show(sub)
    _add_gc(sub)
    return parser


@dataclass(frozen=True)
class Console:
    """Where our own output goes while libraries' output (fd 1 and 2) may be diverted."""

    out: TextIO
    err: TextIO
    log_path: str | None


@contextlib.contextmanager
def _console(*, json_mode: bool, verbose: bool) -> Iterator[Console]:
    """Divert fds 1 and 2 (Ray's and vLLM's native and Python output) away from our own streams.

    With --json, fd 1 carries only our one JSON object. Without -v, library output goes to a
    log file whose path is named if the job fails.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_path = None
    if not verbose:
        log_dir = pressroom_home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        handle, log_path = tempfile.mkstemp(dir=log_dir, prefix="run-", suffix=".log")
        os.dup2(handle, 2)
        os.close(handle)
    if json_mode or not verbose:
        os.dup2(2, 1)
    console = Console(out=os.fdopen(saved_out, "w"), err=os.fdopen(saved_err, "w"), log_path=log_path)
    previous = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = console.err if json_mode else console.out, console.err
    try:
        yield console
    finally:
        for stream in (sys.stdout, sys.stderr, *previous):
            stream.flush()
        sys.stdout, sys.stderr = previous
        os.dup2(console.out.fileno(), 1)
        os.dup2(console.err.fileno(), 2)
        console.out.close()
        console.err.close()


def _run(args) -> int:
    from jobs.runner import RUN_ID_PATTERN, Progress, run_job
    from jobs.spec import load_spec

    if args.run_id and not re.match(RUN_ID_PATTERN, args.run_id):
        raise SpecError(f"--run-id {args.run_id!r}: use letters, digits, '.', '_', '-'")
    spec = load_spec(args.spec, output_uri=args.output_uri)
    with _console(json_mode=args.json, verbose=args.verbose) as console:
        human = console.err if args.json else console.out
        bar = TerminalProgress(console.err) if console.err.isatty() else None

        def announce(run_id: str) -> None:
            print(f"run {run_id} (job {spec.name})", file=human, flush=True)

        progress = Progress(rows_total=0, on_update=bar.update if bar else None)
        try:
            result = run_job(spec, run_id=args.run_id, resume=args.resume, verbose=args.verbose, progress=progress, on_start=announce)
        except PressroomError as exc:
            if console.log_path and exc.exit_code == 1:
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
        if args.json:
            print(json.dumps(summary), file=console.out, flush=True)
        else:
            _print_run(summary, file=human)
    return 0


def _run_summary(result) -> dict:
    manifest = result.manifest
    generate_seconds = manifest.timings.get("generate", 0.0)
    rate = manifest.totals.output_tokens / generate_seconds if generate_seconds > 0 else None
    run_dir = result.manifest_uri.rsplit("/", 1)[0]
    return {
        "job": manifest.job,
        "run_id": manifest.run_id,
        "status": manifest.status,
        "already_committed": not result.written,
        "manifest_uri": result.manifest_uri,
        "data_uri": f"{run_dir}/data/",
        "totals": manifest.totals.model_dump(),
        "errors": manifest.errors,
        "output_tokens_per_second": round(rate, 1) if rate else None,
        "timings": manifest.timings,
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


def _validate(args) -> int:
    from jobs.plan import inspect_input, plan_shards
    from jobs.spec import load_spec
    from workers.models import check_model_source

    spec = load_spec(args.spec, output_uri=args.output_uri)
    table = inspect_input(spec)
    problem = check_model_source(spec.model.source)
    if problem:
        raise SpecError(f"{args.spec}: model.source: {problem}")
    shards = plan_shards(table.files, rows_per_shard=spec.input.rows_per_shard)
    summary = {"job": spec.name, "valid": True, "files": len(table.files), "rows": table.rows, "shards": len(shards)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"ok: job {spec.name}: {table.rows} rows in {len(table.files)} file(s), {len(shards)} shard(s)")
    return 0


def _show(args) -> int:
    from jobs.show import load_committed, verify_files

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
        print(f"model {manifest.model.source} ({manifest.model.engine}, {manifest.model.engine_version}) "
              f"sha256 {manifest.model.sha256[:12]}")
        print(f"rows {totals.rows_in} in, {totals.rows_ok} ok, {totals.rows_failed} failed; "
              f"tokens {totals.input_tokens} in, {totals.output_tokens} out")
        if manifest.errors:
            print("errors: " + ", ".join(f"{k}={v}" for k, v in manifest.errors.items()))
        for entry in manifest.files:
            print(f"  {entry.path}  {entry.rows} rows  {entry.bytes} bytes  {entry.sha256[:12]}")
        if args.verify:
            print("verify: ok" if not problems else "verify: FAILED\n  " + "\n  ".join(problems))
    return 1 if problems else 0


def _gc(args) -> int:
    from jobs.gc import collect_garbage
    from jobs.storage import storage_for

    report = collect_garbage(
        storage_for(args.output_uri), output_uri=args.output_uri, job=args.job,
        grace_seconds=args.grace_hours * 3600, dry_run=args.dry_run,
    )
    if args.json:
        print(json.dumps({"deleted": report.deleted, "kept_young": report.kept_young,
                          "committed_runs": report.committed_runs, "dry_run": args.dry_run}))
        return 0
    verb = "would delete" if args.dry_run else "deleted"
    for uri in report.deleted:
        print(f"{verb} {uri}")
    print(f"{verb} {len(report.deleted)} file(s); kept {len(report.kept_young)} younger than the grace "
          f"period; {report.committed_runs} committed run(s) untouched")
    return 0


COMMANDS = {"run": _run, "validate": _validate, "show": _show, "gc": _gc}


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn every error into one line and an exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PressroomError as exc:
        _report(exc, verbose=args.verbose)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the one place unexpected errors become a message and exit 1
        _report(exc, verbose=args.verbose, prefix=f"{type(exc).__name__}: ")
        return 1


def _report(exc: BaseException, *, verbose: bool, prefix: str = "") -> None:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {prefix}{exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
