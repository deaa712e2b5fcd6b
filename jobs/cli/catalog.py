"""`pressroom jobs`, `runs`, `status`, `logs`: what ran, what is running, and what Ray says.

Readers only: none of them imports torch or vLLM.
"""

from __future__ import annotations

import argparse
import json
import sys

from jobs.cli.target import add_root_arguments, named_run, output_root


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the catalog commands."""
    jobs = sub.add_parser("jobs", parents=[common], help="every job under the output root and its last run")
    runs = sub.add_parser("runs", parents=[common], help="a job's run history")
    runs.add_argument("job", help="job name")
    status = sub.add_parser("status", parents=[common], help="one run's state and progress")
    status.add_argument("run", help="JOB/RUN, JOB/latest or JOB (its latest run)")
    logs = sub.add_parser("logs", parents=[common], help="a submitted run's driver output, from Ray")
    logs.add_argument("run", help="JOB/RUN, JOB/latest or JOB (its latest run)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing the output until the run ends")
    for parser, handler in ((jobs, _jobs), (runs, _runs), (status, _status), (logs, _logs)):
        add_root_arguments(parser)
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.set_defaults(handler=handler)


def _tell_pending(args) -> None:
    """Given --spec, send the job's run-end webhooks that readers left pending (a reader without a
    spec records a lost run but never posts where a stored file says)."""
    if args.spec:
        from jobs.notify import deliver_pending
        from jobs.spec import load_spec
        from workers.io import storage_for

        spec = load_spec(args.spec, output_uri=args.output_uri)
        deliver_pending(spec, storage_for(spec.output.uri))


def _jobs(args) -> int:
    from jobs.catalog import list_jobs

    found = list_jobs(output_root(args))
    _tell_pending(args)
    if args.json:
        print(json.dumps({"jobs": found}))
        return 0
    print(f"{'job':<28} {'runs':>5}  {'last run':<26} {'state':<11} {'rows':>8}  finished")
    for item in found:
        last = item["last_run"]
        print(
            f"{item['job']:<28} {item['runs']:>5}  {last['run_id']:<26} {last['state']:<11} "
            f"{_num(last['rows']):>8}  {last['finished_at'] or '-'}"
        )
    return 0


def _runs(args) -> int:
    from jobs.catalog import check_job, list_runs

    root = output_root(args)
    found = [r.as_dict() for r in list_runs(root, args.job)]
    if not found:
        check_job(root, args.job)  # a typo is exit 2 naming the close matches, not an empty table
    _tell_pending(args)
    if args.json:
        print(json.dumps({"job": args.job, "runs": found}))
        return 0
    print(f"{'run':<26} {'state':<11} {'rows':>8} {'tokens':>9} {'tok/s':>8} {'seconds':>8}  model")
    for run in found:
        state = run["state"] + (f"/{run['reason']}" if run["reason"] else "")
        print(
            f"{run['run_id']:<26} {state:<11} {_num(run['rows']):>8} {_num(run['output_tokens']):>9} "
            f"{_num(run['tokens_per_s']):>8} {_num(run['duration_s']):>8}  {run['model'] or '-'}"
        )
    return 0


def _status(args) -> int:
    from jobs.catalog import run_status

    root, job, run = named_run(args, args.run)
    status = run_status(root, job, run)
    _tell_pending(args)
    for warning in status["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(status))
        return 0
    state = status["state"] + (f" ({status['reason']}: {status['message']})" if status["reason"] else "")
    print(f"{job}/{run}: {state}")
    shards = f"{status['shards_done']}/{status['shards_total']}" if status["shards_total"] is not None else "-"
    print(
        f"shards {shards}, rows {status['rows_done']}/{_num(status['rows'])}, "
        f"tokens {status['output_tokens_so_far']}"
        + (f", {status['tokens_per_s_now']} tok/s, ETA {status['eta_s']:.0f} s" if status["eta_s"] else "")
    )
    if status["submission_id"]:
        print(f"Ray job {status['submission_id']} on {status['cluster']}: {status['ray_job_status']}")
    if status["version_mismatch"]:
        print(f"warning: the driver runs pressroom {status['code_version']}, this client {status['client_version']}")
    return 0


def _logs(args) -> int:
    from jobs import state
    from jobs.cluster import follow_ray_job_logs, ray_job_logs
    from jobs.errors import InputError, SpecError
    from workers.io import storage_for

    root, job, run = named_run(args, args.run)
    current = state.read_state(storage_for(root), state.RunLayout(output_uri=root, job=job, run_id=run))
    if current is None or not current.submission_id:
        raise InputError(f"{job}/{run} was not submitted to a cluster: a local run's log is named when it fails")
    if args.follow:
        if args.json:
            raise SpecError("logs --follow streams text: it takes no --json")
        follow_ray_job_logs(current.cluster, current.submission_id, lambda chunk: print(chunk, end="", flush=True))
        return 0
    text = ray_job_logs(current.cluster, current.submission_id)
    print(
        json.dumps({"job": job, "run_id": run, "state": str(current.state), "logs": text}) if args.json else text,
        end="" if not args.json else "\n",
    )
    return 0


def _num(value) -> str:
    return "-" if value is None else str(value)
