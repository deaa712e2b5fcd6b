"""Generation: build the stages' configuration from the spec, stream the graph, write each shard.

Every shard write first checks the run lease, so a driver that stalled past its lease writes
nothing once another attempt holds the run.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pyarrow as pa

from jobs import state
from jobs.errors import InputError, JobError, PressroomError
from jobs.plan import InputTable
from jobs.quality import score_table
from jobs.reuse import Dedup, PreviousRun, ShardAssembler, choose_rows
from jobs.run.budget import Budget
from jobs.run.cancel import reinstall as reinstall_cancel
from jobs.run.collect import GenerationClock, ShardCollector
from jobs.run.lineage import SINGLE_ADAPTER, engine_path, run_key_of
from jobs.run.pipeline import init_ray, shutdown_ray, stream_outputs
from jobs.run.progress import Progress
from schemas.manifest import Shard, ShardWork
from schemas.rows import output_schema, score_fields, structured_fields
from schemas.spec import EngineName, JobSpec
from workers.engines import EngineConfig
from workers.io import Storage
from workers.metrics import QueueMetric
from workers.models import ResolvedModel
from workers.render import StageConfig, image_roots


def _carried(spec: JobSpec) -> list[str]:
    """Id, then input.columns, then reference columns (kept so readers can check the labels)."""
    return list(dict.fromkeys([spec.input.id_column, *spec.input.columns, *spec.task.reference_columns.values()]))


def output_schema_of(spec: JobSpec, table: InputTable) -> pa.Schema:
    """The Arrow schema of the job's data files."""
    carried = [table.schema.field(c) for c in _carried(spec)[1:]]
    return output_schema(
        id_field=table.schema.field(spec.input.id_column),
        carried=carried,
        structured=structured_fields(spec.task.output_schema),
        scores=score_fields(spec.quality.metrics) if spec.quality else None,
        prompts=spec.output.store_prompts,
    )


def stage_config(spec: JobSpec, *, table: InputTable, model: ResolvedModel, adapters: dict) -> StageConfig:
    """What the read/render task and the generation actors need, from the spec and resolved models."""
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
        engine_args=engine_args_of(spec),
        sampling=spec.sampling.model_dump(),
        gpus=spec.resources.gpus_per_replica,
    )
    return StageConfig(
        read_columns=table.read_columns,
        keep_columns=keep,
        template=spec.task.prompt or "",
        adapter_column=spec.model.adapter_column,
        default_adapter=SINGLE_ADAPTER if spec.model.adapter else None,
        template_columns=table.template_columns,
        system=spec.task.system,
        engine_name=spec.model.engine,
        engine_config=engine_config,
        batch_size=spec.resources.batch_size,
        replicas=spec.resources.replica_range,
        gpus_per_replica=spec.resources.gpus_per_replica,
        threads_per_replica=spec.resources.threads_per_replica,
        image_column=spec.input.image_column,
        image_roots=tuple(image_roots(spec.input.uri, list(spec.input.image_roots))),
        rows_per_shard=spec.input.rows_per_shard,
        run_key=run_key_of(spec, model),
        reference_column=spec.quality.reference_column if spec.quality else None,
        tensor_parallel_size=spec.resources.tensor_parallel_size,
        accelerator_type=spec.resources.accelerator_type,
        cpus_per_replica=spec.resources.cpus_per_replica,
        job=spec.name,
        store_prompts=spec.output.store_prompts,
    )


def engine_args_of(spec: JobSpec) -> dict:
    """The spec's engine_args, plus the replica's tensor parallelism (vLLM runs its ranks as Ray
    actors inside the replica's placement group)."""
    args = dict(spec.model.engine_args)
    tp = spec.resources.tensor_parallel_size
    if tp > 1:
        args["tensor_parallel_size"] = tp
        if spec.model.engine == EngineName.VLLM:
            args.setdefault("distributed_executor_backend", "ray")
    return args


def deterministic(spec: JobSpec) -> bool:
    """Whether identical requests give identical outputs: greedy decoding, or a fixed seed."""
    return spec.sampling.temperature == 0 or spec.sampling.seed is not None


def generate(
    spec: JobSpec,
    *,
    table: InputTable,
    model: ResolvedModel,
    adapters: dict[str, ResolvedModel],
    todo: list[Shard],
    layout: state.RunLayout,
    storage: Storage,
    lease: state.RunLease,
    progress: Progress,
    timings: dict[str, float],
    verbose: bool,
    address: str | None = None,
    previous: PreviousRun | None = None,
    budget: Budget,
) -> None:
    """Choose each shard's rows (copied, fanned out, generated), write the shards that need no
    engine at once, generate the others and write each one as it completes."""
    phase = time.monotonic()
    config = stage_config(spec, table=table, model=model, adapters=adapters)
    dedup = Dedup(enabled=deterministic(spec))

    def write(shard: Shard, rows: pa.Table, work: ShardWork) -> None:
        began = time.monotonic()
        budget.spend(shard, work)
        lease.check()
        state.write_shard(
            storage,
            layout,
            shard=shard.index,
            attempt=lease.attempt,
            input_file=shard.input_file,
            row_range=(shard.row_start, shard.row_end),
            table=rows,
            id_column=spec.input.id_column,
            references=dict(spec.task.reference_columns),
            work=work,
        )
        clock.write_seconds += time.monotonic() - began
        clock.last_written = time.time()
        progress.add(rows, samples=spec.sampling.n)

    clock = GenerationClock()
    metrics = list(spec.quality.metrics) if spec.quality else []
    assembler = ShardAssembler(
        schema=output_schema_of(spec, table),
        keep=config.keep_columns,
        samples=spec.sampling.n,
        previous=previous,
        wanted=dedup.wanted,
        write=write,
        score=(lambda rows: score_table(rows, metrics=metrics)) if metrics else None,
    )
    engine_shards: list[Shard] = []
    selected: dict[int, list[int]] = {}
    for choice in choose_rows(todo, config=config, id_column=spec.input.id_column, previous=previous, dedup=dedup):
        if not budget.admit(choice.shard, choice.rows_generated):
            continue
        if choice.needs_engine:
            engine_shards.append(choice.shard)
            if len(choice.generate) < choice.shard.rows:
                selected[choice.shard.index] = choice.generate.tolist()
        assembler.add(choice)
    timings["select"] = time.monotonic() - phase
    if engine_shards:
        _generate(
            engine_shards,
            selected,
            config=config,
            assembler=assembler,
            samples=spec.sampling.n,
            clock=clock,
            timings=timings,
            verbose=verbose,
            address=address,
            progress=progress,
        )
    budget.check_finished()
    if assembler.pending():
        raise JobError(f"shards {assembler.pending()[:10]} did not complete")


def _generate(
    shards: list[Shard],
    selected: dict[int, list[int]],
    *,
    config: StageConfig,
    assembler: ShardAssembler,
    samples: int,
    clock: GenerationClock,
    timings: dict[str, float],
    verbose: bool,
    address: str | None,
    progress: Progress,
) -> None:
    """Stream the Ray Data graph over the shards that need an engine."""
    phase = time.monotonic()
    started_ray = init_ray(verbose=verbose, address=address)
    reinstall_cancel()  # ray.init replaced our SIGTERM handler
    timings["ray_start"] = time.monotonic() - phase
    clock.pipeline_start = time.time()
    rows = {index: np.asarray(numbers, dtype=np.int64) for index, numbers in selected.items()}
    collector = ShardCollector(shards, samples=samples, done=assembler.generated, rows=rows)
    queue = QueueMetric(config.job)  # the backlog gauge, once Ray is up
    queue.set(progress.rows_total - progress.rows_done)
    try:
        for batch in stream_outputs(shards, config=config, selected=selected):
            clock.see(batch)
            collector.add(batch)
            queue.set(progress.rows_total - progress.rows_done)
    except PressroomError:
        raise
    except Exception as exc:
        raise _job_failure(exc) from exc
    finally:
        timings.update(clock.timings())
        if started_ray:
            phase = time.monotonic()
            shutdown_ray()
            timings["ray_shutdown"] = time.monotonic() - phase
    if collector.missing():
        raise JobError(f"shards {collector.missing()[:10]} did not complete")


_REMOTE_INPUT_ERROR = re.compile(rf"^{re.escape(InputError.__module__)}\.InputError: (.+)$", re.M)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes: `__cause__`, `__context__`, and Ray's `.cause`."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else (exc.__cause__ or exc.__context__)
    return seen


def _job_failure(exc: BaseException) -> PressroomError:
    """Bad input found inside a Ray task stays bad input (exit 2); anything else is a job failure
    whose one line names the real cause, not Ray Data's empty SystemException."""
    chain = _chain(exc)
    for item in chain:
        if isinstance(item, InputError):
            return InputError(_first_line(item))
        # Ray ships a task's exception to the driver as text inside RayTaskError(UserCodeException):
        # the worker's own InputError survives only as its traceback's last line.
        found = _REMOTE_INPUT_ERROR.search(str(item))
        if found:
            return InputError(found.group(1).strip())
    meaningful = [e for e in chain if _first_line(e) and type(e).__name__ != "SystemException"]
    cause = meaningful[-1] if meaningful else exc
    return JobError(f"generation failed: {type(cause).__name__}: {_summary(cause)}")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _summary(exc: BaseException) -> str:
    """The first line, plus the line that says why when Ray puts it further down."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = [line for line in lines[1:] if any(k in line for k in ("because", "never ran", "cancelled", "Error:"))]
    return " ".join(dict.fromkeys(lines[:1] + why[-1:]))
