"""Run one job: validate, plan, stream shards through Ray, write shards, commit the manifest."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import pyarrow as pa

from jobs import state
from jobs.errors import InputError, JobError, SpecError
from jobs.plan import InputTable, inspect_input, plan_shards
from jobs.run.collect import GenerationClock, ShardCollector
from jobs.run.lineage import SINGLE_ADAPTER, build_manifest, engine_path, resolve_models, utc_now
from jobs.run.pipeline import init_ray, shutdown_ray, stream_outputs
from jobs.run.progress import Progress
from jobs.spec import spec_fingerprint
from schemas.manifest import Manifest, RunPlan, Shard, ShardRecord
from schemas.rows import output_schema, structured_fields
from schemas.spec import JobSpec
from workers.engines import EngineConfig
from workers.io import storage_for
from workers.models import ResolvedModel
from workers.render import StageConfig

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random suffix."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class RunResult:
    """The committed manifest, where it is, and whether this call wrote it."""

    manifest: Manifest
    manifest_uri: str
    written: bool


def run_job(
    spec: JobSpec, *, run_id: str | None = None, resume: bool = False, verbose: bool = False,
    progress: Progress | None = None, on_start: Callable[[str], None] | None = None,
) -> RunResult:
    """Run (or resume) one job to a committed manifest. Raises InputError/SpecError before loading."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    storage = storage_for(spec.output.uri)
    run_id = run_id or (_newest_uncommitted(storage, spec) if resume else new_run_id())
    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    if on_start:
        on_start(run_id)
    existing = state.read_manifest(storage, layout)
    if existing is not None:
        return RunResult(manifest=existing, manifest_uri=layout.manifest, written=False)
    table = inspect_input(spec)
    model, adapters = resolve_models(spec)
    plan = _claim_plan(storage, layout, spec=spec, table=table)
    shards = plan.shards
    timings["validate"] = time.monotonic() - started

    done = {k: r for k, r in state.read_shard_records(storage, layout).items() if _matches(r, shards)}
    todo = [s for s in shards if s.index not in done]
    progress = progress or Progress(rows_total=0)
    progress.rows_total = table.rows
    progress.rows_done = sum(r.totals.rows_in for r in done.values())
    if todo:
        _generate(spec, table=table, model=model, adapters=adapters, todo=todo, schema=_output_schema(spec, table),
                  layout=layout, storage=storage, progress=progress, timings=timings, verbose=verbose)
    records = state.read_shard_records(storage, layout)
    missing = [s.index for s in shards if s.index not in records or not _matches(records[s.index], shards)]
    if missing:
        raise JobError(f"run {run_id}: shards {missing[:10]} have no completion record")
    split = {"rows_reused": sum(r.totals.rows_in for r in done.values()), "rows_generated": sum(s.rows for s in todo)}
    manifest = build_manifest(spec, run_id=run_id, created_at=plan.created_at, table=table, model=model,
                              adapters=adapters, records=[records[s.index] for s in shards], timings=timings,
                              split=split)
    result = state.commit_manifest(storage, layout, manifest)
    return RunResult(manifest=result.manifest, manifest_uri=layout.manifest, written=result.written)


def _newest_uncommitted(storage, spec: JobSpec) -> str:
    runs = state.uncommitted_runs(storage, state.JobLayout(output_uri=spec.output.uri, job=spec.name))
    if not runs:
        raise SpecError(f"--resume: job {spec.name} has no uncommitted run under {spec.output.uri}")
    return runs[-1].run_id


def _claim_plan(storage, layout: state.RunLayout, *, spec: JobSpec, table: InputTable) -> RunPlan:
    """The run's plan: written on the first start, checked against spec and input on a resume."""
    shards = plan_shards(table.files, rows_per_shard=spec.input.rows_per_shard)
    fresh = RunPlan(
        job=spec.name, run_id=layout.run_id, spec_sha256=spec_fingerprint(spec), created_at=utc_now(),
        inputs=table.files, shards=shards,
    )
    plan = state.claim_run_plan(storage, layout, fresh)
    if plan.spec_sha256 != fresh.spec_sha256:
        raise SpecError(
            f"run {layout.run_id} was started from a different spec (spec_sha256 {plan.spec_sha256[:12]}, "
            f"now {fresh.spec_sha256[:12]}): resume it with the original spec, or start a new run id"
        )
    changed = [f.uri for f in fresh.inputs if f not in plan.inputs] + [
        f.uri for f in plan.inputs if f.uri not in {g.uri for g in fresh.inputs}
    ]
    if changed:
        raise InputError(
            f"run {layout.run_id}: input changed since the run started: {', '.join(sorted(set(changed))[:5])} "
            "(size, modification time or ETag differ): start a new run id"
        )
    return plan


def _matches(record: ShardRecord, shards: list[Shard]) -> bool:
    """A record counts only if it is for the planned shard at its index."""
    if record.shard >= len(shards):
        return False
    return record.covers(shards[record.shard])


def _carried(spec: JobSpec) -> list[str]:
    """Id, then input.columns, then reference columns (kept so readers can check the labels)."""
    return list(dict.fromkeys([spec.input.id_column, *spec.input.columns, *spec.task.reference_columns.values()]))


def _output_schema(spec: JobSpec, table: InputTable) -> pa.Schema:
    carried = [table.schema.field(c) for c in _carried(spec)[1:]]
    return output_schema(
        id_field=table.schema.field(spec.input.id_column), carried=carried,
        structured=structured_fields(spec.task.output_schema),
    )


def _stage_config(spec: JobSpec, *, table: InputTable, model: ResolvedModel, adapters: dict) -> StageConfig:
    keep = _carried(spec)
    engine_config = EngineConfig(
        model_path=engine_path(model),
        model_sha256=model.sha256,
        model_name=model.source if model.source != "default" else "default:SmolLM2-135M-Instruct",
        adapters={name: engine_path(a) for name, a in adapters.items()},
        adapter_sha256s={name: a.sha256 for name, a in adapters.items()},
        output_schema=spec.task.output_schema,
        max_model_len=spec.model.max_model_len,
        dtype=spec.model.dtype,
        engine_args=dict(spec.model.engine_args),
        sampling=spec.sampling.model_dump(),
        gpus=spec.resources.gpus_per_replica,
    )
    return StageConfig(
        read_columns=table.read_columns, keep_columns=keep, template=spec.task.prompt or "",
        adapter_column=spec.model.adapter_column,
        default_adapter=SINGLE_ADAPTER if spec.model.adapter else None,
        template_columns=table.template_columns, system=spec.task.system, engine_name=spec.model.engine,
        engine_config=engine_config, batch_size=spec.resources.batch_size,
        replicas=spec.resources.replica_range, gpus_per_replica=spec.resources.gpus_per_replica,
        threads_per_replica=spec.resources.threads_per_replica,
        image_column=spec.input.image_column,
    )


def _generate(spec: JobSpec, *, table, model, adapters, todo, schema, layout, storage, progress, timings, verbose) -> None:
    phase = time.monotonic()
    started_ray = init_ray(verbose=verbose)
    timings["ray_start"] = time.monotonic() - phase
    clock = GenerationClock()

    def write(shard: Shard, rows: pa.Table) -> None:
        began = time.monotonic()
        state.write_shard(storage, layout, shard=shard.index, input_file=shard.input_file,
                           row_range=(shard.row_start, shard.row_end), table=rows,
                           id_column=spec.input.id_column, references=dict(spec.task.reference_columns))
        clock.write_seconds += time.monotonic() - began
        clock.last_written = time.time()
        progress.add(rows, samples=spec.sampling.n)

    samples = spec.sampling.n
    collector = ShardCollector(todo, schema=schema, samples=samples, write=write)
    try:
        for batch in stream_outputs(todo, config=_stage_config(spec, table=table, model=model, adapters=adapters)):
            clock.see(batch)
            collector.add(batch)
    except Exception as exc:
        raise JobError(f"generation failed: {_root_cause(exc)}") from exc
    finally:
        timings.update(clock.timings())
        if started_ray:
            phase = time.monotonic()
            shutdown_ray()
            timings["ray_shutdown"] = time.monotonic() - phase
    if collector.missing():
        raise JobError(f"shards {collector.missing()[:10]} did not complete")


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"


