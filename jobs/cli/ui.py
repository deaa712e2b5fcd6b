"""`pressroom ui`: serve the read-only viewer of an output root's committed runs."""

from __future__ import annotations

import argparse
import sys

from jobs.cli.target import add_root_arguments

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    ui = sub.add_parser("ui", parents=[common], help="a read-only web viewer of committed runs (jobs, rows, compare)")
    ui.set_defaults(handler=command)
    add_root_arguments(ui)
    ui.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    ui.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    ui.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (every job's outputs become readable from the network)",
    )
    ui.add_argument("--json", action="store_true", help="print where it serves as one JSON object, then serve")


def command(args) -> int:
    """Serve until interrupted; returns the exit code."""
    from jobs.cli.target import output_root
    from jobs.cluster import is_loopback_host
    from jobs.errors import SpecError

    root = output_root(args)
    if not is_loopback_host(args.host):
        if not args.allow_remote:
            raise SpecError(
                f"--host {args.host} would serve every job's outputs beyond this machine, without "
                "authentication: pass --allow-remote as well if that is intended"
            )
        print(
            f"warning: serving {root} on {args.host}:{args.port} to the network, read-only and without authentication",
            file=sys.stderr,
        )
    import uvicorn

    from jobs.ui import create_app

    url = f"http://{args.host}:{args.port}/"
    if args.json:
        import json

        print(json.dumps({"url": url, "output_uri": root}), flush=True)
    else:
        print(f"pressroom ui: {url} (outputs under {root}; Ctrl-C stops)", flush=True)
    uvicorn.run(create_app(root, hosts=(args.host,)), host=args.host, port=args.port, log_level="warning")
    return 0
