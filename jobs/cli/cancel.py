"""`pressroom cancel JOB/RUN`: stop a run; it ends `cancelled` and keeps its finished shards."""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

from jobs.cli.target import add_root_arguments, named_run


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    cancel = sub.add_parser("cancel", parents=[common], help="stop a submitted (or local) run")
    cancel.set_defaults(handler=command)
    cancel.add_argument("run", help="JOB/RUN, JOB/latest or JOB (its latest run)")
    add_root_arguments(cancel)
    cancel.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the run to stop")
    cancel.add_argument("--json", action="store_true", help="print one JSON object")


def command(args) -> int:
    """Stop the run's Ray job (or its local driver), then wait until its state says it ended."""
    from jobs import state
    from jobs.cluster import stop_ray_job
    from schemas.state import ENDED, RunStateName
    from workers.io import storage_for

    root, job, run = named_run(args, args.run)
    storage = storage_for(root)
    layout = state.RunLayout(output_uri=root, job=job, run_id=run)
    current = state.read_state(storage, layout)
    lease = state.read_lease(storage, layout)
    if current is None and lease is None:
        from jobs.catalog import unknown_run

        raise unknown_run(root, job, run)
    if current is None or current.state not in ENDED:
        if current is not None and current.submission_id and current.cluster:
            stop_ray_job(current.cluster, current.submission_id)
        elif lease is not None and state.is_live(lease[0]) and state.holder_running_here(lease[0].holder):
            os.kill(lease[0].holder.pid, signal.SIGTERM)  # the local driver itself (host, boot, pid and start time)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            current, _ = state.observe(storage, layout)
            if current is not None and current.state in ENDED:
                break
            if current is not None and current.state == RunStateName.QUEUED and current.submission_id:
                # stopped before a driver started: nobody else will say so
                from jobs.cluster import TERMINAL, ray_job_status

                if ray_job_status(current.cluster, current.submission_id) in TERMINAL:
                    current = (
                        state.record_state(
                            storage,
                            layout,
                            RunStateName.CANCELLED,
                            only_from={RunStateName.QUEUED},
                            message="cancelled before a driver started",
                        )
                        or current
                    )
                    break
            time.sleep(0.5)
    name = str(current.state) if current else "unknown"
    print(json.dumps({"job": job, "run_id": run, "state": name}) if args.json else f"{job}/{run}: {name}")
    return 0 if name == RunStateName.CANCELLED else 1
