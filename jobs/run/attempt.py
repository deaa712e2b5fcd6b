"""Run one attempt of a job: check, plan, take the lease, generate missing shards, commit.

Order matters: an already-committed run returns at once; a resume is checked against the run's
pinned plan before any lease is taken or waited for; only the lease holder writes.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from jobs import state
from jobs.errors import InputError, JobError, LeaseHeld, PressroomError, SpecError
from jobs.notify import deliver_pending, post_event, run_event
from jobs.plan import inspect_input
from jobs.publish import Published, PublishError, check_publishable, publish_pending, retain_runs
from jobs.reuse import previous_run
from jobs.run.budget import Budget, BudgetExceeded
from jobs.run.cancel import RunCancelled, cancel_on_sigterm
from jobs.run.generate import generate
from jobs.run.lineage import build_manifest, resolve_models
from jobs.run.progress import Progress
from jobs.run.resume import check_resume, fresh_plan
from jobs.version import code_version
from schemas.manifest import Manifest, Shard, ShardRecord
from schemas.spec import JobSpec
from schemas.state import FailureReason, RunStateName
from workers.io import storage_for

RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"


def check_run_id(run_id: str) -> None:
    """Raise SpecError unless the whole run id is letters, digits, '.', '_', '-' (at most 128)."""
    if not re.fullmatch(RUN_ID_PATTERN, run_id):
        raise SpecError(
            f"run id {run_id!r}: use letters, digits, '.', '_', '-' (at most 128, starting with a letter or digit)"
        )


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunResult:
    """The committed manifest, where it is, and whether this call wrote it."""

    manifest: Manifest
    manifest_uri: str
    written: bool
    published: tuple[Published, ...] = ()


def run_job(
    spec: JobSpec,
    *,
    run_id: str | None = None,
    resume: bool = False,
    verbose: bool = False,
    progress: Progress | None = None,
    on_start: Callable[[str], None] | None = None,
    wait_lease: float | None = None,
    address: str | None = None,
    retry_of: str | None = None,
) -> RunResult:
    """Run (or resume) one job to a committed manifest. Raises InputError/SpecError before loading,
    LeaseHeld if another live driver holds the run (after waiting up to `wait_lease` seconds),
    RunCancelled on SIGTERM. Every end the driver owns is recorded in the run's state."""
    started = time.monotonic()
    if run_id is not None:
        check_run_id(run_id)
    storage = storage_for(spec.output.uri)
    run_id = run_id or (_newest_uncommitted(storage, spec) if resume else new_run_id())
    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    if on_start:
        on_start(run_id)
    with cancel_on_sigterm():
        existing = state.read_manifest(storage, layout)
        if existing is not None:
            return _after_commit(
                spec, storage, RunResult(manifest=existing, manifest_uri=layout.manifest, written=False)
            )
        try:
            table = inspect_input(spec)
            if spec.publish is not None:
                check_publishable(table.schema, [spec.input.id_column, *spec.input.columns], where=spec.input.uri)
            model, adapters = resolve_models(spec)
            reused_from = state.read_latest(storage, layout) if spec.mode == "incremental" else None
            if retry_of is not None and state.read_manifest(storage, layout.run(retry_of)) is None:
                raise InputError(f"retry: run {spec.name}/{retry_of} is not committed under {spec.output.uri}")
            fresh = fresh_plan(
                spec,
                run_id=run_id,
                table=table,
                model=model,
                adapters=adapters,
                reused_from=reused_from,
                retry_of=retry_of,
            )
            pinned = state.read_plan(storage, layout)
            if pinned is not None:
                check_resume(pinned, fresh)
            state.check_conditional_writes(storage, spec.output.uri)
            lease = state.take_lease(storage, layout, ttl=state.lease_ttl(), wait_seconds=wait_lease)
        except LeaseHeld:
            raise
        except PressroomError as exc:  # a submitted run that never started says why it ended
            _end(spec, storage, layout, exc, attempt=None, only_from={RunStateName.QUEUED})
            raise
        try:
            deliver_pending(spec, storage)  # ends of earlier runs of the job, left for the spec's holder to tell
            result = _attempt(
                spec,
                storage=storage,
                layout=layout,
                lease=lease,
                table=table,
                model=model,
                adapters=adapters,
                fresh=fresh,
                progress=progress,
                verbose=verbose,
                address=address,
                timings={"validate": time.monotonic() - started},
                started=started,
            )
        finally:
            lease.release()
        return _after_commit(spec, storage, result)


def _after_commit(spec: JobSpec, storage, result: RunResult) -> RunResult:
    """Publish the committed run (and any a crash left unpublished), then apply retention.

    The run stays committed whatever fails here; a failed publish is repaired by
    `pressroom publish JOB/RUN` or by the job's next run.
    """
    published: list[Published] = []
    if spec.publish is not None and result.manifest.state == "succeeded":
        try:
            published = publish_pending(spec, storage)
        except PublishError as exc:
            raise PublishError(
                f"run {spec.name}/{result.manifest.run_id} is committed ({result.manifest_uri}) but "
                f"not published: {exc}. `pressroom publish {spec.name}/{result.manifest.run_id} "
                "--spec SPEC` or the job's next run publishes it"
            ) from exc
    if spec.retention and result.written:
        _retain(spec, storage)
    return RunResult(
        manifest=result.manifest, manifest_uri=result.manifest_uri, written=result.written, published=tuple(published)
    )


def _attempt(
    spec: JobSpec,
    *,
    storage,
    layout: state.RunLayout,
    lease: state.RunLease,
    table,
    model,
    adapters,
    fresh,
    progress: Progress | None,
    verbose: bool,
    address: str | None,
    timings: dict,
    started: float,
) -> RunResult:
    """Everything the lease holder does, its state recorded at each step and at its end."""
    existing = state.read_manifest(storage, layout)  # another attempt may have committed meanwhile
    if existing is not None:
        return RunResult(manifest=existing, manifest_uri=layout.manifest, written=False)
    plan = state.claim_run_plan(storage, layout, fresh)
    if plan is not fresh:
        check_resume(plan, fresh)
    state.record_state(storage, layout, RunStateName.RUNNING, attempt=lease.attempt, code_version=code_version())
    try:
        shards = plan.shards
        done = {k: r for k, r in state.read_shard_records(storage, layout).items() if _matches(r, shards)}
        todo = [s for s in shards if s.index not in done]
        progress = progress or Progress(rows_total=0)
        progress.rows_total = table.rows
        progress.rows_done = sum(r.totals.rows_in for r in done.values())
        previous = None
        if todo and plan.reused_from:
            previous = previous_run(
                storage,
                layout,
                plan.reused_from,
                id_column=spec.input.id_column,
                retry_spec=plan.spec_sha256 if plan.retry else None,
            )
        if todo:
            generate(
                spec,
                table=table,
                model=model,
                adapters=adapters,
                todo=todo,
                layout=layout,
                storage=storage,
                lease=lease,
                progress=progress,
                timings=timings,
                verbose=verbose,
                address=address,
                previous=previous,
                budget=Budget(spec.budget, run_id=layout.run_id, done=list(done.values())),
            )
        records = state.read_shard_records(storage, layout)
        missing = [s.index for s in shards if s.index not in records or not _matches(records[s.index], shards)]
        if missing:
            raise JobError(f"run {layout.run_id}: shards {missing[:10]} have no completion record")
        timings["run"] = time.monotonic() - started  # this attempt: start -> every shard written
        manifest = build_manifest(
            spec,
            run_id=layout.run_id,
            created_at=plan.created_at,
            table=table,
            model=model,
            adapters=adapters,
            records=[records[s.index] for s in shards],
            timings=timings,
            split=_split(records, done, todo),
            reused_from=plan.reused_from,
            retry_of=plan.reused_from if plan.retry else None,
        )
        lease.check()
        state.record_state(storage, layout, RunStateName.COMMITTING, attempt=lease.attempt)
        result = state.commit_manifest(
            storage, layout, manifest, latest_only_from=plan.reused_from if plan.retry else None
        )
    except LeaseHeld:
        raise  # the run is another attempt's now: its state is theirs to record
    except Exception as exc:
        _end(spec, storage, layout, exc, attempt=lease.attempt)
        raise
    ended = state.record_state(storage, layout, RunStateName(result.manifest.state), attempt=lease.attempt)
    if ended is not None and spec.notify:
        post_event(spec.notify, run_event(ended, manifest=result.manifest, manifest_uri=layout.manifest))
    return RunResult(manifest=result.manifest, manifest_uri=layout.manifest, written=result.written)


def _retain(spec: JobSpec, storage) -> None:
    """The spec's retention after a commit; a failure here leaves the committed run as it is."""
    try:
        retain_runs(
            storage,
            output_uri=spec.output.uri,
            job=spec.name,
            keep_runs=spec.retention.keep_runs,
            keep_days=spec.retention.keep_days,
            iceberg=spec.publish.iceberg if spec.publish else None,
        )
    except (OSError, PressroomError) as exc:
        print(f"warning: retention for job {spec.name} failed, the run is committed: {exc}", file=sys.stderr)


def _split(records: dict[int, ShardRecord], done: dict[int, ShardRecord], todo: list[Shard]) -> dict[str, int]:
    """Where the run's rows came from: shards an earlier attempt finished count as reused."""
    ours = [records[s.index].work for s in todo]
    return {
        "rows_reused": sum(r.totals.rows_in for r in done.values()) + sum(w.rows_reused for w in ours),
        "rows_generated": sum(w.rows_generated for w in ours),
        "engine_requests": sum(w.engine_requests for w in ours),
        "output_tokens_generated": sum(r.work.output_tokens_generated for r in records.values()),
    }


def _end(
    spec: JobSpec,
    storage,
    layout: state.RunLayout,
    exc: BaseException,
    *,
    attempt: int | None,
    only_from: set | None = None,
) -> None:
    """Record how the run ended (cancelled, or failed with a reason) and notify."""
    if isinstance(exc, RunCancelled):
        name, reason = RunStateName.CANCELLED, None
    elif isinstance(exc, BudgetExceeded):
        name, reason = RunStateName.FAILED, FailureReason.BUDGET
    else:
        name = RunStateName.FAILED
        reason = FailureReason.INPUT if isinstance(exc, (InputError, SpecError)) else FailureReason.ENGINE
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    ended = state.record_state(
        storage, layout, name, attempt=attempt, reason=reason, message=message, only_from=only_from
    )
    if ended is not None and spec.notify:
        post_event(spec.notify, run_event(ended, manifest=None, manifest_uri=None))


def _newest_uncommitted(storage, spec: JobSpec) -> str:
    runs = state.uncommitted_runs(storage, state.JobLayout(output_uri=spec.output.uri, job=spec.name))
    if not runs:
        raise SpecError(f"--resume: job {spec.name} has no uncommitted run under {spec.output.uri}")
    return runs[-1].run_id


def _matches(record: ShardRecord, shards: list[Shard]) -> bool:
    """A record counts only if it is for the planned shard at its index."""
    if record.shard >= len(shards):
        return False
    return record.covers(shards[record.shard])
