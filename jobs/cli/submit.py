"""`pressroom submit`: hand a run to a Ray cluster and return at once (or follow it with --wait)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from jobs.errors import HeldElsewhere, InputError
from schemas.state import FailureReason, RunStateName

# How a run's end maps to the exit code `--wait` returns, as `pressroom run` would have.
EXIT_CODES = {RunStateName.SUCCEEDED: 0, RunStateName.FAILED: 1, RunStateName.CANCELLED: 1, RunStateName.REJECTED: 1}


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    submit = sub.add_parser("submit", parents=[common], help="submit a run to a Ray cluster's job server")
    submit.set_defaults(handler=command)
    submit.add_argument("spec", help="job spec YAML file")
    submit.add_argument("--address", help="the job server's URL http://HOST:PORT (default: $RAY_ADDRESS)")
    submit.add_argument("--run-id", help="run id to use, or a cancelled or failed run's to resume")
    submit.add_argument("--output-uri", help="override output.uri")
    submit.add_argument(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass this secret environment variable to the job (e.g. a credential): by reference, "
        "never in Ray's job API or logs; a remote cluster needs RAY_AUTH_MODE=token; repeatable",
    )
    submit.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass this non-secret environment variable to the job (shown in Ray's job API); repeatable",
    )
    submit.add_argument(
        "--slot",
        metavar="ISO_TIME|latest",
        help="claim this cron slot first (latest: the spec schedule's newest due slot); a slot claimed "
        "already has its run resumed, unless that run is committed, skipped on purpose or held by "
        "a live driver (then exit 0: nothing to do)",
    )
    submit.add_argument("--wait", action="store_true", help="follow the run and return its exit code")
    submit.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def command(args) -> int:
    """Submit, then report (and with --wait, follow) the run."""
    from jobs.cluster import job_server, submit_run
    from jobs.run import check_run_id, new_run_id
    from jobs.spec import load_spec

    spec = load_spec(args.spec, output_uri=args.output_uri)
    cluster = job_server(args.address)
    turn = None
    if args.slot:
        from jobs.schedule import slot_turn

        turn = slot_turn(spec, args.slot, decision="submitted", by="submit", run_id=args.run_id)
        if turn.done:
            return _nothing_submitted(spec, turn, turn.done, json_mode=args.json)
        if not turn.took:
            from jobs.catalog import run_status

            with contextlib.suppress(InputError):  # records a lost driver or a dead submission first
                run_status(spec.output.uri, spec.name, turn.run_id)
            print(
                f"slot {turn.claim.slot} of job {spec.name} was claimed by {turn.claim.claimed_by} and its run "
                f"{turn.run_id} is not committed: submitting it again",
                file=sys.stderr,
            )
        args.run_id = turn.run_id
    run_id = args.run_id or new_run_id()
    check_run_id(run_id)
    try:
        done = submit_run(
            spec,
            spec_path=Path(args.spec),
            run_id=run_id,
            cluster=cluster,
            pass_env=args.pass_env,
            output_uri=args.output_uri,
            env_names=args.env,
        )
    except HeldElsewhere as exc:
        if turn is None:
            raise
        return _nothing_submitted(spec, turn, f"in progress elsewhere: {exc}", json_mode=args.json)
    human = sys.stderr if args.json else sys.stdout
    if done is None:
        print(f"run {run_id} is already committed; nothing submitted", file=human)
        print(
            json.dumps({"job": spec.name, "run_id": run_id, "state": RunStateName.SUCCEEDED, "already_committed": True})
            if args.json
            else f"{spec.name}/{run_id}: already committed"
        )
        return 0
    print(
        f"submitted run {done.run_id} (job {done.job}, attempt {done.attempt}) as Ray job {done.submission_id} "
        f"on {done.cluster}",
        file=human,
        flush=True,
    )
    summary = {
        "job": done.job,
        "run_id": done.run_id,
        "state": RunStateName.QUEUED,
        "attempt": done.attempt,
        "submission_id": done.submission_id,
        "cluster": done.cluster,
    }
    code = 0
    if args.wait:
        summary, code = follow(spec.output.uri, done.job, done.run_id, out=human)
    print(json.dumps(summary) if args.json else f"{done.job}/{done.run_id}: {summary['state']}")
    return code


def _nothing_submitted(spec, turn, why: str, *, json_mode: bool) -> int:
    """A `--slot` submit with nothing to do: exit 0 (a doubled tick must not fail)."""
    print(f"slot {turn.claim.slot} of job {spec.name}: {why}; nothing submitted", file=sys.stderr)
    print(
        json.dumps(
            {
                "job": spec.name,
                "run_id": turn.run_id,
                "slot": turn.claim.slot,
                "claimed": turn.took,
                "nothing_to_run": why,
            }
        )
        if json_mode
        else f"{spec.name}: slot {turn.claim.slot}: {why}"
    )
    return 0


def follow(output_uri: str, job: str, run_id: str, *, out, poll_s: float = 1.0) -> tuple[dict, int]:
    """Poll the run until it ends; print each change of state; return the last status and exit code."""
    from jobs.catalog import run_status

    seen = None
    while True:
        status = run_status(output_uri, job, run_id)
        line = (status["state"], status["shards_done"])
        if line != seen:
            print(
                f"{job}/{run_id}: {status['state']}, shards {status['shards_done']}/{status['shards_total']}"
                + (f", Ray job {status['ray_job_status']}" if status["ray_job_status"] else ""),
                file=out,
                flush=True,
            )
            if status["version_mismatch"]:
                print(
                    f"warning: the cluster runs pressroom {status['code_version']}, this client "
                    f"{status['client_version']}",
                    file=out,
                )
            seen = line
        if status["state"] in EXIT_CODES:
            failed_input = status["state"] == RunStateName.FAILED and status["reason"] == FailureReason.INPUT
            return status, 2 if failed_input else EXIT_CODES[status["state"]]
        time.sleep(poll_s)
