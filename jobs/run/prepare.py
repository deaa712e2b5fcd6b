"""A run, prepared: everything a run, a dry run and a capacity plan start from, built once.

Preparing checks the input (no model loads), resolves and hashes the model and adapters, and
builds the plan this driver would start the run with; when the run started before, its pinned
plan is read back and a resume must match it (spec, inputs, model, adapters, engine and shards):
anything changed is refused (exit 2) naming what, before any lease is taken or waited for, so
one run never mixes two models' text. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import pyarrow as pa

from jobs import state
from jobs.errors import InputError, SpecError
from jobs.inputs import InputTable, inspect_input, split_shards
from jobs.publish import check_publishable
from jobs.run.lineage import SINGLE_ADAPTER, engine_path, engine_version, resolve_models, run_key_of, utc_now
from jobs.run.stages import GenerateStage, RenderStage, engine_args
from jobs.spec import spec_fingerprint
from schemas.manifest import PinnedModel, RunPlan, Shard, ShardRecord
from schemas.rows import output_schema, score_fields, structured_fields
from schemas.spec import JobSpec
from workers.actor import GenerateConfig
from workers.engines import EngineConfig
from workers.io import Storage, storage_for
from workers.models import ResolvedModel
from workers.render import RenderConfig, image_roots


@dataclass(frozen=True)
class PreparedRun:
    """A run before its lease: the spec, where it writes, its input, models and plan."""

    spec: JobSpec
    storage: Storage
    layout: state.RunLayout
    table: InputTable
    model: ResolvedModel
    adapters: dict[str, ResolvedModel]
    fresh: RunPlan  # the plan this driver would start the run with
    pinned: RunPlan | None  # the plan the run started with, if it did (checked against `fresh`)
    done: dict[int, ShardRecord] = field(default_factory=dict)  # shards recorded for the plan, when read

    @property
    def plan(self) -> RunPlan:
        """The plan that stands: the pinned one, else this driver's."""
        return self.pinned or self.fresh

    @property
    def todo(self) -> list[Shard]:
        """The plan's shards without a record."""
        return [s for s in self.plan.shards if s.index not in self.done]

    def with_records(self, records: dict[int, ShardRecord]) -> PreparedRun:
        """This run with the shard records that match its plan (as read now, under the lease)."""
        shards = self.plan.shards
        done = {k: r for k, r in records.items() if k < len(shards) and r.covers(shards[k])}
        return replace(self, done=done)

    @property
    def deterministic(self) -> bool:
        """Whether identical requests give identical outputs: greedy decoding, or a fixed seed."""
        return self.spec.sampling.temperature == 0 or self.spec.sampling.seed is not None

    @property
    def carried(self) -> list[str]:
        """Id, then input.columns, then reference columns (kept so readers can check the labels)."""
        spec = self.spec
        return list(dict.fromkeys([spec.input.id_column, *spec.input.columns, *spec.task.reference_columns.values()]))

    @cached_property
    def output_schema(self) -> pa.Schema:
        """The Arrow schema of the job's data files."""
        spec, schema = self.spec, self.table.schema
        return output_schema(
            id_field=schema.field(spec.input.id_column),
            carried=[schema.field(c) for c in self.carried[1:]],
            structured=structured_fields(spec.task.output_schema),
            scores=score_fields(spec.quality.metrics) if spec.quality else None,
            prompts=spec.output.store_prompts,
        )

    @cached_property
    def render(self) -> RenderStage:
        """The read/render stage, as the driver's row choice renders too."""
        spec = self.spec
        config = RenderConfig(
            read_columns=self.table.read_columns,
            keep_columns=self.carried,
            template=spec.task.prompt or "",
            template_columns=self.table.template_columns,
            system=spec.task.system,
            run_key=run_key_of(spec, self.model),
            adapter_column=spec.model.adapter_column,
            default_adapter=SINGLE_ADAPTER if spec.model.adapter else None,
            adapter_sha256s={name: a.sha256 for name, a in self.adapters.items()},
            image_column=spec.input.image_column,
            image_roots=tuple(image_roots(spec.input.uri, list(spec.input.image_roots))),
            reference_column=spec.quality.reference_column if spec.quality else None,
            store_prompts=spec.output.store_prompts,
        )
        return RenderStage(config=config, rows_per_shard=spec.input.rows_per_shard)

    @cached_property
    def generate(self) -> GenerateStage:
        """The generate stage: the spec's engine, model, adapters and sampling, on its resources."""
        spec, model = self.spec, self.model
        engine = EngineConfig(
            model_path=engine_path(model),
            model_sha256=model.sha256,
            model_name=model.source if model.source != "default" else "default:SmolLM2-135M-Instruct",
            adapters={name: engine_path(a) for name, a in self.adapters.items()},
            adapter_sha256s={name: a.sha256 for name, a in self.adapters.items()},
            output_schema=spec.task.output_schema,
            max_model_len=spec.model.max_model_len,
            dtype=spec.model.dtype,
            engine_args=engine_args(spec.model.engine, spec.resources, spec.model.engine_args),
            sampling=spec.sampling,
            gpus=spec.resources.gpus_per_replica,
        )
        config = GenerateConfig(
            engine=spec.model.engine,
            engine_config=engine,
            system=spec.task.system,
            job=spec.name,
            keep_prompts=spec.output.store_prompts,
        )
        return GenerateStage(config=config, resources=spec.resources)


def prepare_run(spec: JobSpec, *, run_id: str, retry_of: str | None = None) -> PreparedRun:
    """The run `run_id` of the spec, prepared (see the module's docstring). `retry_of` makes it a
    retry of that committed run. Raises InputError/SpecError naming the problem."""
    storage = storage_for(spec.output.uri)
    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    table = inspect_input(spec)
    if spec.publish is not None:
        check_publishable(table.schema, [spec.input.id_column, *spec.input.columns], where=spec.input.uri)
    model, adapters = resolve_models(spec)
    if retry_of is not None and state.read_manifest(storage, layout.run(retry_of)) is None:
        raise InputError(f"retry: run {spec.name}/{retry_of} is not committed under {spec.output.uri}")
    pinned = state.read_plan(storage, layout)
    if retry_of is not None:
        reused_from = retry_of
    elif spec.mode == "incremental":
        reused_from = pinned.reused_from if pinned else state.read_latest(storage, layout)
    else:
        reused_from = None
    fresh = fresh_plan(spec, run_id=run_id, table=table, model=model, adapters=adapters, reused_from=reused_from,
                       retry=retry_of is not None)  # fmt: skip
    if pinned is not None:
        check_resume(pinned, fresh)
    return PreparedRun(spec=spec, storage=storage, layout=layout, table=table, model=model, adapters=adapters,
                       fresh=fresh, pinned=pinned)  # fmt: skip


def fresh_plan(
    spec: JobSpec,
    *,
    run_id: str,
    table: InputTable,
    model: ResolvedModel,
    adapters: dict[str, ResolvedModel],
    reused_from: str | None,
    retry: bool,
) -> RunPlan:
    """The plan this driver would start the run with."""
    return RunPlan(
        job=spec.name,
        run_id=run_id,
        spec_sha256=spec_fingerprint(spec),
        created_at=utc_now(),
        inputs=table.files,
        model=PinnedModel(
            sha256=model.sha256,
            adapters={name: a.sha256 for name, a in adapters.items()},
            engine=spec.model.engine,
            engine_version=engine_version(spec.model.engine),
        ),
        shards=split_shards(table.files, rows_per_shard=spec.input.rows_per_shard),
        mode=spec.mode,
        reused_from=reused_from,
        retry=retry,
    )


def check_resume(pinned: RunPlan, fresh: RunPlan) -> None:
    """Refuse to resume `pinned` with what this driver has now, naming the first thing that changed."""
    run = f"run {pinned.run_id}"
    hint = "resume it with the original spec, input and model, or start a new run id"
    if pinned.spec_sha256 != fresh.spec_sha256:
        raise SpecError(
            f"{run} was started from a different spec (spec_sha256 {pinned.spec_sha256[:12]}, "
            f"now {fresh.spec_sha256[:12]}): {hint}"
        )
    changed = [f.uri for f in fresh.inputs if f not in pinned.inputs] + [
        f.uri for f in pinned.inputs if f.uri not in {g.uri for g in fresh.inputs}
    ]
    if changed:
        raise InputError(
            f"{run}: input changed since the run started: {', '.join(sorted(set(changed))[:5])} "
            f"(size, modification time or ETag differ): {hint}"
        )
    before, now = pinned.model, fresh.model
    if before.sha256 != now.sha256:
        raise SpecError(
            f"{run}: the model's files changed since the run started (content hash "
            f"{before.sha256[:12]}, now {now.sha256[:12]}): {hint}"
        )
    for name in sorted(set(before.adapters) | set(now.adapters)):
        if before.adapters.get(name) != now.adapters.get(name):
            raise SpecError(
                f"{run}: adapter {name!r} changed since the run started (content hash "
                f"{(before.adapters.get(name) or 'none')[:12]}, now {(now.adapters.get(name) or 'none')[:12]}): "
                f"{hint}"
            )
    if (before.engine, before.engine_version) != (now.engine, now.engine_version):
        raise SpecError(
            f"{run}: the engine changed since the run started ({before.engine} {before.engine_version}, "
            f"now {now.engine} {now.engine_version}): {hint}"
        )
    if pinned.shards != fresh.shards:
        raise SpecError(f"{run}: the input's shards differ from the run's plan: {hint}")
