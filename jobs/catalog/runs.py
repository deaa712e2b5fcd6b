"""What is under an output root: its jobs, each job's runs, one run's progress.

Read only, through `jobs.state`'s read side, with one listing per call; the only write is the one
`jobs.state.observe` makes when it finds a running run whose lease is no longer live (recorded
`failed`, reason `lost`, its webhook left for the next holder of the job's spec). A run that
cannot be read is skipped and named on stderr. Never imports torch or vLLM.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime

from jobs import state
from jobs.cluster import TERMINAL, ray_job_status
from jobs.errors import InputError, not_found
from jobs.quality import truncation_warning
from jobs.version import code_version
from schemas.manifest import Manifest, RunPlan
from schemas.names import is_job_name, is_run_id
from schemas.state import ENDED, FailureReason, RunState, RunStateName
from workers.io import storage_for


@dataclass(frozen=True)
class RunSummary:
    """One run as the catalog shows it."""

    job: str
    run_id: str
    state: str
    reason: str | None
    message: str | None
    created_at: str | None
    finished_at: str | None
    duration_s: float | None
    rows: int | None
    rows_failed: int | None
    output_tokens: int | None
    tokens_per_s: float | None
    model: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 1)


def _read_run(storage, layout: state.RunLayout) -> tuple[Manifest | None, RunState | None, RunPlan | None]:
    """The run's manifest, state (as a reader records it: a lost driver found) and plan, each read once."""
    return state.read_manifest(storage, layout), state.observe(storage, layout)[0], state.read_plan(storage, layout)


def summarize(storage, layout: state.RunLayout) -> RunSummary:
    """The run's state and figures: the manifest's for a committed run, the plan's otherwise."""
    return _summary(layout, *_read_run(storage, layout))


def _summary(
    layout: state.RunLayout, manifest: Manifest | None, current: RunState | None, plan: RunPlan | None
) -> RunSummary:
    if manifest is not None:
        totals = manifest.totals
        generate = manifest.timings.get("generate") or 0.0
        return RunSummary(
            job=layout.job,
            run_id=layout.run_id,
            state=manifest.state,
            reason=None,
            message=None,
            created_at=manifest.created_at,
            finished_at=manifest.finished_at,
            duration_s=_seconds(manifest.created_at, manifest.finished_at),
            rows=totals.rows_in,
            rows_failed=totals.rows_failed,
            output_tokens=totals.output_tokens,
            tokens_per_s=round(totals.output_tokens / generate, 1) if generate > 0 else None,
            model=manifest.model.source,
        )
    name = str(current.state) if current else ("running" if plan else "unknown")
    ended_at = current.history[-1].at if current and current.state in ENDED and current.history else None
    created = plan.created_at if plan else (current.history[0].at if current and current.history else None)
    return RunSummary(
        job=layout.job,
        run_id=layout.run_id,
        state=name,
        reason=str(current.reason) if current and current.reason else None,
        message=current.message if current else None,
        created_at=created,
        finished_at=ended_at,
        duration_s=_seconds(created, ended_at),
        rows=sum(s.rows for s in plan.shards) if plan else None,
        rows_failed=None,
        output_tokens=None,
        tokens_per_s=None,
        model=None,
    )


def _runs_by_job(output_uri: str, job: str | None = None) -> dict[str, list[str]]:
    """Run ids per job under the root (or of one job), from one listing. Folders that cannot be a
    job's (pressroom's own `.pressroom/`, `_`-prefixed ones) or a run's are passed over."""
    root = state.JobLayout(output_uri=output_uri, job=job).job_dir if job else output_uri
    prefix = output_uri.rstrip("/") + "/"
    found: dict[str, set[str]] = defaultdict(set)
    for info in storage_for(output_uri).list_objects(root):
        name = info.uri[len(prefix) :].split("/", 1)[0]
        if not is_job_name(name):
            continue
        run_id = state.JobLayout(output_uri=output_uri, job=name).run_id_of(info.uri)
        if run_id is not None and is_run_id(run_id):
            found[name].add(run_id)
    return {name: sorted(runs) for name, runs in sorted(found.items())}


def _summaries(storage, output_uri: str, job: str, runs: list[str]) -> list[RunSummary]:
    """The runs that can be read, oldest first; the others are named once on stderr."""
    summaries, skipped = [], []
    for run_id in runs:
        layout = state.RunLayout(output_uri=output_uri, job=job, run_id=run_id)
        try:
            summaries.append(summarize(storage, layout))
        except InputError as exc:
            skipped.append(state.Unreadable(layout.run_dir, str(exc)))
    state.name_unreadable(skipped)
    return sorted(summaries, key=lambda s: (s.created_at or "", s.run_id))


def list_runs(output_uri: str, job: str) -> list[RunSummary]:
    """A job's run history, oldest first ([] for a job with none: `check_job` tells a typo apart)."""
    return _summaries(storage_for(output_uri), output_uri, job, _runs_by_job(output_uri, job).get(job, []))


def check_job(output_uri: str, job: str) -> list[str]:
    """The job's run ids; an InputError naming the close matches if the root holds no such job."""
    jobs = _runs_by_job(output_uri)
    if job not in jobs:
        raise not_found("job", job, list(jobs), output_uri)
    return jobs[job]


def unknown_run(output_uri: str, job: str, run_id: str) -> InputError:
    """The error for a run the root does not hold, naming the close matches (or the unknown job)."""
    try:
        runs = check_job(output_uri, job)
    except InputError as exc:
        return InputError(f"no run {job}/{run_id}: {exc}")
    return not_found("run", f"{job}/{run_id}", [f"{job}/{r}" for r in runs], output_uri)


def list_jobs(output_uri: str) -> list[dict]:
    """Every job under the root with its number of runs and its newest run."""
    storage = storage_for(output_uri)
    jobs = []
    for job, runs in _runs_by_job(output_uri).items():
        summaries = _summaries(storage, output_uri, job, runs)
        if summaries:
            jobs.append({"job": job, "runs": len(summaries), "last_run": summaries[-1].as_dict()})
    return jobs


def run_status(output_uri: str, job: str, run_id: str) -> dict:
    """One run's progress: state, shards done/total, rows, tokens, rate, ETA, and Ray's view."""
    storage = storage_for(output_uri)
    layout = state.RunLayout(output_uri=output_uri, job=job, run_id=run_id)
    manifest, current, plan = _read_run(storage, layout)
    summary = _summary(layout, manifest, current, plan)
    if plan is None and current is None and summary.state == "unknown":
        raise unknown_run(output_uri, job, run_id)
    records = state.read_shard_records(storage, layout)
    rows_done = sum(r.totals.rows_in for r in records.values())
    tokens = sum(r.totals.output_tokens for r in records.values())
    # This attempt's own shards (their files carry its number) give the rate now.
    mine = [
        r
        for r in records.values()
        if current and current.attempt and r.file.path.endswith(f"-a{current.attempt}.parquet")
    ]
    status = {
        **summary.as_dict(),
        "shards_done": len(records),
        "shards_total": len(plan.shards) if plan else None,
        "rows_done": rows_done,
        "output_tokens_so_far": tokens,
        "attempt": current.attempt if current else None,
        "submission_id": current.submission_id if current else None,
        "cluster": current.cluster if current else None,
        "ray_job_status": None,
        "code_version": current.code_version if current else None,
        "client_version": code_version(),
        "warnings": [w for w in [manifest and truncation_warning(manifest)] if w],
    }
    status["version_mismatch"] = bool(status["code_version"]) and status["code_version"] != status["client_version"]
    status.update(
        _rate(
            current,
            mine_rows=sum(r.totals.rows_in for r in mine),
            mine_tokens=sum(r.totals.output_tokens for r in mine),
            rows_left=(summary.rows - rows_done) if summary.rows is not None else None,
        )
    )
    if current is not None and current.submission_id and current.cluster:
        status["ray_job_status"] = ray_job_status(current.cluster, current.submission_id)
        if current.state == RunStateName.QUEUED and status["ray_job_status"] in TERMINAL:
            ended = state.record_state(
                storage,
                layout,
                RunStateName.FAILED,
                reason=FailureReason.SUBMISSION,
                only_from={RunStateName.QUEUED},
                message=f"Ray job {current.submission_id} ended {status['ray_job_status']} before the driver started",
            )
            if ended is not None:
                status.update(state=str(ended.state), reason=str(ended.reason), message=ended.message)
    return status


def _rate(current: RunState | None, *, mine_rows: int, mine_tokens: int, rows_left: int | None) -> dict:
    """Tokens/s of the running attempt since it started, and the ETA at its rows/s."""
    running = [t for t in (current.history if current else []) if t.state == RunStateName.RUNNING]
    if not running or current.state != RunStateName.RUNNING or rows_left is None:
        return {"tokens_per_s_now": None, "eta_s": None}
    began = datetime.fromisoformat(running[-1].at)
    elapsed = (datetime.now(began.tzinfo) - began).total_seconds()
    if elapsed <= 0 or mine_rows == 0:
        return {"tokens_per_s_now": None, "eta_s": None}
    return {"tokens_per_s_now": round(mine_tokens / elapsed, 1), "eta_s": round(rows_left * elapsed / mine_rows, 1)}
