"""Run one attempt of a job, top to bottom:

    prepare        input checked, models resolved, plan pinned or fresh        jobs/run/prepare.py
    lease          one live driver per run                                     jobs/state/lease.py
    choose rows    per shard: copied, fanned out, or generated                 jobs/reuse/select.py
    stages         read+render -> generate, on Ray                             jobs/run/pipeline.py, stages.py
    shard sink     each shard put together, checked, scored, written           jobs/run/sink.py
    commit         manifest -> latest -> notify, publish, retain               jobs/state/commit.py

Order matters: an already-committed run returns at once; a resume is checked against the run's
pinned plan before any lease is taken or waited for; only the lease holder writes, and every end
the driver owns is recorded in the run's state.
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
from jobs.publish import Published, PublishError, publish_pending, retain_runs
from jobs.reuse import Dedup, previous_run
from jobs.reuse import choose_rows as choose
from jobs.run.budget import Budget, BudgetExceeded
from jobs.run.cancel import RunCancelled, cancel_on_sigterm
from jobs.run.cancel import reinstall as reinstall_cancel
from jobs.run.clock import RunClock
from jobs.run.lineage import build_manifest
from jobs.run.pipeline import EarlyRay, failure, stream
from jobs.run.prepare import PreparedRun, check_resume, prepare_run
from jobs.run.progress import Progress
from jobs.run.sink import ShardSink, ShardWriter
from jobs.version import code_version
from schemas.manifest import Manifest, Shard, ShardRecord
from schemas.spec import JobSpec
from schemas.state import FailureReason, RunStateName
from workers.io import storage_for
from workers.metrics import QueueMetric
from workers.render import unit_items

RUN_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}"


def check_run_id(run_id: str) -> None:
    """Raise SpecError unless the whole run id is letters, digits, '.', '_', '-' (at most 128) and
    not 'latest' (which names the job's latest run everywhere a run is named)."""
    if run_id == "latest":
        raise SpecError("run id 'latest' names the job's latest run: choose another (say, tonight's date)")
    if not re.fullmatch(RUN_ID_PATTERN, run_id):
        raise SpecError(
            f"run id {run_id!r}: use letters, digits, '.', '_', '-' (at most 128, starting with a letter or digit)"
        )


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunOptions:
    """How a run is driven: who watches it, where Ray is, how long to wait for another driver."""

    progress: Progress | None = None
    on_start: Callable[[str], None] | None = None  # called with the run id before anything else
    verbose: bool = False
    wait_lease: float | None = None  # seconds to wait for another driver's lease (None: exit 3 at once)
    address: str | None = None  # a Ray cluster to join (else $RAY_ADDRESS, else a private local Ray)
    retry_of: str | None = None  # `pressroom retry`: the committed run whose retryable error rows regenerate


@dataclass(frozen=True)
class RunResult:
    """The committed manifest, where it is, and whether this call wrote it."""

    manifest: Manifest
    manifest_uri: str
    written: bool
    published: tuple[Published, ...] = ()


def run_job(spec: JobSpec, *, run_id: str | None = None, resume: bool = False,
            options: RunOptions | None = None) -> RunResult:  # fmt: skip
    """Run (or resume) one job to a committed manifest. Raises InputError/SpecError before loading,
    HeldElsewhere if another live driver holds the run (after waiting up to `wait_lease` seconds),
    RunCancelled on SIGTERM. Every end the driver owns is recorded in the run's state."""
    options = options or RunOptions()
    clock = RunClock()
    if run_id is not None:
        check_run_id(run_id)
    storage = storage_for(spec.output.uri)
    run_id = run_id or (_newest_uncommitted(storage, spec) if resume else new_run_id())
    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    if options.on_start:
        options.on_start(run_id)
    with cancel_on_sigterm():
        existing = state.read_manifest(storage, layout)
        if existing is not None:
            return _after_commit(spec, storage, RunResult(existing, layout.manifest, written=False))
        with clock.phase("validate"):
            try:
                prepared = prepare_run(spec, run_id=run_id, retry_of=options.retry_of)
                state.check_conditional_writes(storage, spec.output.uri)
                lease = state.take_lease(storage, layout, ttl=state.lease_ttl(), wait_seconds=options.wait_lease)
            except LeaseHeld:
                raise
            except PressroomError as exc:  # a submitted run that never started says why it ended
                _end(spec, layout, exc, attempt=None, only_from={RunStateName.QUEUED})
                raise
        try:
            deliver_pending(spec, storage)  # ends of earlier runs of the job, left for the spec's holder to tell
            result = Attempt(prepared, lease=lease, options=options, clock=clock).run()
        finally:
            lease.release()
        return _after_commit(spec, storage, result)


class Attempt:
    """Everything the lease holder does, its state recorded at each step and at its end."""

    def __init__(self, prepared: PreparedRun, *, lease: state.RunLease, options: RunOptions, clock: RunClock):
        self.prepared = prepared
        self.lease = lease
        self.options = options
        self.clock = clock
        self.progress = options.progress or Progress(rows_total=0)
        self.ray: EarlyRay | None = None  # Ray starting while the attempt chooses its shards' rows

    @property
    def _layout(self) -> state.RunLayout:
        return self.prepared.layout

    def run(self) -> RunResult:
        prepared, storage, layout = self.prepared, self.prepared.storage, self._layout
        existing = state.read_manifest(storage, layout)  # another attempt may have committed meanwhile
        if existing is not None:
            return RunResult(existing, layout.manifest, written=False)
        plan = state.claim_run_plan(storage, layout, prepared.fresh)
        if plan is not prepared.fresh:
            check_resume(plan, prepared.fresh)  # another driver started it since we looked
        state.record_state(storage, layout, RunStateName.RUNNING, attempt=self.lease.attempt,
                           code_version=code_version())  # fmt: skip
        try:
            result = self._generate_and_commit(prepared.with_records(state.read_shard_records(storage, layout)))
        except LeaseHeld:
            raise  # the run is another attempt's now: its state is theirs to record
        except Exception as exc:
            _end(prepared.spec, layout, exc, attempt=self.lease.attempt)
            raise
        ended = state.record_state(storage, layout, RunStateName(result.manifest.state), attempt=self.lease.attempt)
        if ended is not None and prepared.spec.notify:
            post_event(prepared.spec.notify, run_event(ended, manifest=result.manifest, manifest_uri=layout.manifest))
        return result

    def _generate_and_commit(self, prepared: PreparedRun) -> RunResult:
        self.progress.rows_total = prepared.table.rows
        self.progress.rows_done = sum(r.totals.rows_in for r in prepared.done.values())
        if prepared.todo:
            self._generate(prepared)
        records = state.read_shard_records(prepared.storage, prepared.layout)
        missing = [s.index for s in prepared.plan.shards if s.index not in records or not records[s.index].covers(s)]
        if missing:
            raise JobError(f"run {prepared.layout.run_id}: shards {missing[:10]} have no completion record")
        self.clock.since_start("run")  # this attempt: start -> every shard written
        plan = prepared.plan
        manifest = build_manifest(
            prepared,
            records=[records[s.index] for s in plan.shards],
            timings=self.clock.timings(),
            split=_split(records, prepared.done, prepared.todo),
        )
        self.lease.check()
        state.record_state(prepared.storage, prepared.layout, RunStateName.COMMITTING, attempt=self.lease.attempt)
        result = state.commit_manifest(prepared.storage, prepared.layout, manifest,
                                       latest_only_from=plan.reused_from if plan.retry else None)  # fmt: skip
        return RunResult(result.manifest, prepared.layout.manifest, written=result.written)

    def _generate(self, prepared: PreparedRun) -> None:
        """Choose each shard's rows, write the shards that need no engine at once, stream the
        stages over the others, and let the sink write each one as it completes."""
        spec, plan = prepared.spec, prepared.plan
        if spec.mode == "full" and not plan.retry:  # every shard to do needs an engine: start Ray now
            self.ray = EarlyRay(verbose=self.options.verbose, address=self.options.address)
        try:
            self._choose_and_stream(prepared)
        finally:
            if self.ray is not None:  # shut down what this attempt started (also when not needed after all)
                with self.clock.phase("ray_shutdown"):
                    self.ray.close()

    def _choose_and_stream(self, prepared: PreparedRun) -> None:
        spec, plan = prepared.spec, prepared.plan
        previous = None
        if plan.reused_from:
            previous = previous_run(prepared.storage, prepared.layout, plan.reused_from, id_column=spec.input.id_column,
                                    retry_spec=plan.spec_sha256 if plan.retry else None)  # fmt: skip
        budget = Budget(spec.budget, run_id=prepared.layout.run_id, done=list(prepared.done.values()))
        dedup = Dedup(enabled=prepared.deterministic)
        writer = ShardWriter(prepared, lease=self.lease, budget=budget, progress=self.progress, clock=self.clock)
        sink = ShardSink.for_run(prepared, previous=previous, wanted=dedup.wanted, writer=writer)
        engine_shards: list[Shard] = []
        selected: dict[int, list[int]] = {}
        with self.clock.phase("select"):
            for choice in choose(prepared.todo, config=prepared.render.config, id_column=spec.input.id_column,
                                 previous=previous, dedup=dedup):  # fmt: skip
                if not budget.admit(choice.shard, choice.rows_generated):
                    continue
                if choice.needs_engine:
                    engine_shards.append(choice.shard)
                    if len(choice.generate) < choice.shard.rows:
                        selected[choice.shard.index] = choice.generate.tolist()
                sink.add(choice)
        if engine_shards:
            self._stream(prepared, sink, items=unit_items(engine_shards, selected))
        budget.check_finished()
        if sink.pending():
            raise JobError(f"shards {sink.pending()[:10]} did not complete")

    def _stream(self, prepared: PreparedRun, sink: ShardSink, *, items: list[dict]) -> None:
        """Start (or join) Ray, stream the stages' output into the sink, shut down what we started."""
        if self.ray is None:
            self.ray = EarlyRay(verbose=self.options.verbose, address=self.options.address)
        with self.clock.phase("ray_start"):  # what is left of it, when it started early
            self.ray.started()
            reinstall_cancel()  # ray.init replaced our SIGTERM handler
        self.clock.pipeline_start = time.time()
        queue = QueueMetric(prepared.spec.name)  # the backlog gauge, once Ray is up
        queue.set(self.progress.rows_total - self.progress.rows_done)
        try:
            for batch in stream(items, render=prepared.render, generate=prepared.generate):
                self.clock.see(batch)
                sink.take(batch)
                queue.set(self.progress.rows_total - self.progress.rows_done)
        except PressroomError:
            raise
        except Exception as exc:  # a failure in Ray, or in the sink mid-stream (a write, a check)
            raise failure(exc) from exc


def _after_commit(spec: JobSpec, storage, result: RunResult) -> RunResult:
    """Publish the committed run (and any a crash left unpublished), then apply retention.

    The run stays committed whatever fails here; a failed publish is repaired by
    `pressroom publish JOB/RUN` or by the job's next run.
    """
    published: list[Published] = []
    if spec.publish is not None and result.manifest.state == RunStateName.SUCCEEDED:
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
    return RunResult(result.manifest, result.manifest_uri, written=result.written, published=tuple(published))


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


def _end(spec: JobSpec, layout: state.RunLayout, exc: BaseException, *, attempt: int | None,
         only_from: set | None = None) -> None:  # fmt: skip
    """Record how the run ended (cancelled, or failed with a reason) and notify."""
    if isinstance(exc, RunCancelled):
        name, reason = RunStateName.CANCELLED, None
    elif isinstance(exc, BudgetExceeded):
        name, reason = RunStateName.FAILED, FailureReason.BUDGET
    else:
        name = RunStateName.FAILED
        reason = FailureReason.INPUT if isinstance(exc, (InputError, SpecError)) else FailureReason.ENGINE
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    storage = storage_for(spec.output.uri)
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
