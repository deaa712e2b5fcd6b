"""The `pressroom` command: one group, `--json` for machines, one place that maps errors to exits.

Exit codes: 0 success, 1 job failure (failed, cancelled or rejected), 2 invalid spec or input,
3 held by another driver. Each command group is one module whose `add_parser` registers its
commands with their handlers; heavy modules (vllm, torch) are imported only by `run`, and only
once a job actually generates.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from jobs.cli import cancel, capacity, catalog, gc, publish, query, retry, run, schedule, show, submit, ui, validate
from jobs.errors import PressroomError
from jobs.version import package_version
from workers.secrets import load_secrets

GROUPS = (run, retry, capacity, publish, validate, show, gc, submit, catalog, cancel, schedule, query, ui)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command group's parser under one `pressroom`."""
    parser = argparse.ArgumentParser(
        prog="pressroom", description="Batch content generation: Parquet prompts in, Parquet + manifest out."
    )
    parser.add_argument("--version", action="version", version=f"pressroom {package_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="engine and Ray logs, full tracebacks")
    # -v also works after the subcommand; SUPPRESS keeps a top-level -v from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="engine and Ray logs, full tracebacks"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, and turn every error into one line and an exit code."""
    args = build_parser().parse_args(argv)
    load_secrets()  # a submitted run's --pass-env values, read by reference (workers.secrets)
    try:
        return args.handler(args)
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
