"""The run plan a run starts with, and the check a resume must pass before any lease is taken.

The plan pins what changes outputs: the spec fingerprint, every input file's identity, the model
and adapter content hashes, the engine and its version. A resume that finds any of them changed
is refused (exit 2) naming what changed, so one run never mixes two models' text.
"""

from __future__ import annotations

from jobs.errors import InputError, SpecError
from jobs.plan import InputTable, plan_shards
from jobs.run.lineage import engine_version, utc_now
from jobs.spec import spec_fingerprint
from schemas.manifest import PinnedModel, RunPlan
from schemas.spec import JobSpec
from workers.models import ResolvedModel


def fresh_plan(
    spec: JobSpec,
    *,
    run_id: str,
    table: InputTable,
    model: ResolvedModel,
    adapters: dict[str, ResolvedModel],
    reused_from: str | None = None,
    retry_of: str | None = None,
) -> RunPlan:
    """The plan this driver would start the run with (an incremental one reusing `reused_from`)."""
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
        shards=plan_shards(table.files, rows_per_shard=spec.input.rows_per_shard),
        mode=spec.mode,
        reused_from=retry_of or (reused_from if spec.mode == "incremental" else None),
        retry=retry_of is not None,
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
                f"{(before.adapters.get(name) or 'none')[:12]}, now {(now.adapters.get(name) or 'none')[:12]}): {hint}"
            )
    if (before.engine, before.engine_version) != (now.engine, now.engine_version):
        raise SpecError(
            f"{run}: the engine changed since the run started ({before.engine} {before.engine_version}, "
            f"now {now.engine} {now.engine_version}): {hint}"
        )
    if pinned.shards != fresh.shards:
        raise SpecError(f"{run}: the input's shards differ from the run's plan: {hint}")
