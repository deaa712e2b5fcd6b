"""`pressroom schedule serve` (the daemon; `pressroom scheduler` is its old spelling) and
`pressroom schedule list|pause|resume|trigger JOB`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from jobs.cli.target import add_root_arguments, output_root


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the scheduler and the schedule commands."""
    scheduler = sub.add_parser("scheduler", parents=[common], help="the old spelling of `schedule serve`")
    scheduler.set_defaults(handler=_old_spelling)
    _daemon_arguments(scheduler)
    schedule = sub.add_parser(
        "schedule", parents=[common], help="a job's schedule: list, pause, resume, trigger; serve"
    )
    actions = schedule.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", parents=[common], help="the daemon: submit every due cron slot, exactly once")
    serve.set_defaults(handler=_scheduler)
    _daemon_arguments(serve)
    for name, handler, text in (
        ("list", _list, "the job's slot claims and next slot"),
        ("pause", _pause, "stop submitting the job's slots"),
        ("resume", _resume, "submit the job's slots again"),
        ("trigger", _trigger, "run the job now, claimed like a slot"),
    ):
        action = actions.add_parser(name, parents=[common], help=text)
        action.set_defaults(handler=handler)
        action.add_argument("job", help="job name")
        add_root_arguments(action)
        action.add_argument("--json", action="store_true", help="print one JSON object")
        if name == "trigger":
            action.add_argument("--address", help="the job server's URL (default: $RAY_ADDRESS)")
            action.add_argument("--dry-run", action="store_true", help="claim the slot, submit nothing")


def _daemon_arguments(parser) -> None:
    parser.add_argument("--specs", required=True, help="directory of job specs (re-read every tick)")
    parser.add_argument("--address", help="the job server's URL http://HOST:PORT (default: $RAY_ADDRESS)")
    parser.add_argument("--poll", type=float, default=30.0, help="seconds between ticks")
    parser.add_argument("--once", action="store_true", help="one tick, then exit")
    parser.add_argument("--dry-run", action="store_true", help="claim and log slots, submit nothing")
    parser.add_argument(
        "--json", action="store_true", help="each line a JSON object {time, message} (JSON Lines: it runs on)"
    )
    parser.add_argument("--now-file", help=argparse.SUPPRESS)  # tests: a file holding the current ISO time


def _json_lines(line: str) -> None:
    """A log line as one JSON object: the time it starts with, and the rest."""
    first, _, rest = line.partition(" ")
    try:
        datetime.fromisoformat(first)
        entry = {"time": first, "message": rest}
    except ValueError:
        entry = {"time": None, "message": line}
    print(json.dumps(entry), flush=True)


def _old_spelling(args) -> int:
    print("note: `pressroom scheduler` is now `pressroom schedule serve` (same options)", file=sys.stderr)
    return _scheduler(args)


def _clock(now_file: str | None):
    if not now_file:
        return lambda: datetime.now(UTC)
    return lambda: datetime.fromisoformat(Path(now_file).read_text().strip()).astimezone(UTC)


def _submitter(address: str | None, *, dry_run: bool):
    from jobs.cluster import job_server, submit_run

    cluster = None if dry_run else job_server(address)

    def submit(path: Path, spec, run_id: str) -> None:
        if cluster is not None:
            submit_run(spec, spec_path=path, run_id=run_id, cluster=cluster, pass_env=[], output_uri=None)

    return submit


def _scheduler(args) -> int:
    from jobs.schedule import Scheduler

    specs = Path(args.specs)
    if not specs.is_dir():
        from jobs.errors import SpecError

        raise SpecError(f"--specs {specs}: not a directory")
    log = _json_lines if args.json else lambda line: print(line, flush=True)  # one line per decision
    scheduler = Scheduler(
        specs,
        submit=_submitter(args.address, dry_run=args.dry_run),
        clock=_clock(args.now_file),
        log=log,
        dry_run=args.dry_run,
    )
    if args.once:
        scheduler.tick()
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log(f"scheduler watching {specs} every {args.poll:g} s" + (" (dry run)" if args.dry_run else ""))
    scheduler.run(stop, poll_s=args.poll)
    return 0


def _job(args):
    from jobs import state
    from workers.io import storage_for

    root = output_root(args)
    return storage_for(root), state.JobLayout(output_uri=root, job=args.job)


def _list(args) -> int:
    from jobs import state

    storage, job = _job(args)
    claims = [
        {**c.model_dump(), "run_state": _run_state(storage, job, c.run_id)} for c in state.read_claims(storage, job)
    ]
    # scheduled: True/False from the spec; None when no spec was given (claims say it was scheduled).
    found = {"job": args.job, "paused": state.is_paused(storage, job), "scheduled": True if claims else None}
    found["claims"] = claims
    if args.spec:
        from jobs.schedule import slot_name, slots_between
        from jobs.spec import load_spec

        schedule = load_spec(args.spec).schedule
        found["scheduled"] = schedule is not None
        if schedule is not None:
            now = datetime.now(UTC)
            upcoming = slots_between(schedule.cron, schedule.timezone, now, now.replace(year=now.year + 2))[:1]
            found["next_slot"] = slot_name(upcoming[0]) if upcoming else None
            found["paused"] = found["paused"] or schedule.paused
    elif not claims and not found["paused"]:
        from jobs.catalog import check_job

        check_job(output_root(args), args.job)  # a typo is exit 2 naming the close matches, not "active"
    if args.json:
        print(json.dumps(found))
        return 0
    print(f"job {args.job}: {_schedule_word(found, args.spec)}")
    for claim in claims:
        print(
            f"  {claim['slot']}  {claim['decision']:<9}  {claim['run_id'] or '-'}  {claim['run_state']:<15}"
            f"  by {claim['claimed_by']}" + (f"  ({claim['reason']})" if claim["reason"] else "")
        )
    return 0


def _schedule_word(found: dict, spec: str | None) -> str:
    if found["scheduled"] is False:
        return f"no schedule in {spec}"
    word = "paused" if found["paused"] else "active"
    if found["scheduled"] is None:
        return f"{word}, no slot claimed yet (--spec SPEC reads its schedule)"
    return word + (f", next slot {found['next_slot']}" if found.get("next_slot") else "")


def _run_state(storage, job, run_id: str | None) -> str:
    """The claimed run's state as the catalog reads it: a committed night, one still running, one
    lost (resumed by the next --slot caller), or one never started."""
    if run_id is None:
        return "-"
    from jobs.catalog import summarize
    from jobs.errors import InputError

    try:
        summary = summarize(storage, job.run(run_id))
    except InputError:
        return "unreadable"
    if summary.state == "unknown":
        return "not started"
    return summary.state + (f"/{summary.reason}" if summary.reason else "")


def _pause(args, *, paused: bool = True) -> int:
    from jobs import state

    storage, job = _job(args)
    state.set_paused(storage, job, paused, by="pressroom schedule", at=datetime.now(UTC).isoformat())
    word = "paused" if paused else "active"
    print(json.dumps({"job": args.job, "paused": paused}) if args.json else f"job {args.job}: {word}")
    return 0


def _resume(args) -> int:
    return _pause(args, paused=False)


def _trigger(args) -> int:
    from jobs.errors import SpecError
    from jobs.schedule import claim_for_command
    from jobs.spec import load_spec

    if not args.spec:
        raise SpecError("schedule trigger needs --spec SPEC (the job to run)")
    spec = load_spec(args.spec, output_uri=args.output_uri)
    now = datetime.now(UTC).replace(microsecond=0)
    took, claim = claim_for_command(spec, now.isoformat(), decision="submitted", by="trigger", now=now)
    if took:
        _submitter(args.address, dry_run=args.dry_run)(Path(args.spec), spec, claim.run_id)
    result = {
        "job": spec.name,
        "slot": claim.slot,
        "run_id": claim.run_id,
        "claimed": took,
        "submitted": took and not args.dry_run,
    }
    print(
        json.dumps(result)
        if args.json
        else f"{spec.name}: slot {claim.slot} " + ("submitted" if result["submitted"] else "claimed"),
        file=sys.stdout,
    )
    return 0
