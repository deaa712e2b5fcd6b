"""What a run would do, without doing it: rows, exact prompt tokens, rows to generate, and
output tokens and seconds estimated from the job's earlier runs. Nothing is written under the
output root, no engine loads and Ray never starts (`pressroom run --dry-run`; the capacity plan
builds on `estimate_run`).

Rows are chosen by the same pass a run makes (`jobs.reuse.select_rows`), and prompt tokens are
counted with the model's own tokenizer the way the engines count them, so `input_tokens` equals
the run's. Rows with an image count their text's tokens only (`input_tokens_exact` false).
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from jobs import state
from jobs.plan import inspect_input
from jobs.reuse import Dedup, previous_run, select_rows
from jobs.run.generate import deterministic, stage_config
from jobs.run.lineage import resolve_models
from jobs.run.resume import check_resume, fresh_plan
from schemas.manifest import Manifest, startup_seconds
from schemas.rows import ERROR_CODE, IMAGE, PROMPT
from schemas.spec import JobSpec
from workers.engines import Request, load_tokenizer, prompt_token_counts
from workers.io import storage_for

HISTORY_RUNS = 5  # earlier committed runs the estimates average over
DRY_RUN_ID = "dry-run"


@dataclass(frozen=True)
class Estimate:
    """A run's size before it runs."""

    job: str
    run_id: str | None
    rows: int
    input_tokens: int
    input_tokens_exact: bool
    rows_to_generate: int
    rows_reused: int
    engine_requests: int
    reused_from: str | None
    estimated_output_tokens: int | None
    estimated_seconds: float | None
    history_runs: int
    over_budget: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class _TokenCounter:
    """Sums prompt tokens over rendered rows, as the engine will count them."""

    def __init__(self, model_path: str, system: str | None):
        self._tokenizer = load_tokenizer(model_path)
        self._system = system
        self.total = 0
        self.exact = True

    def add(self, rendered: pa.Table) -> None:
        ok = pc.is_null(rendered.column(ERROR_CODE))
        if IMAGE in rendered.column_names:
            self.exact = self.exact and not pc.any(pc.is_valid(rendered.column(IMAGE))).as_py()
        prompts = rendered.filter(ok).column(PROMPT).to_pylist()
        self.total += sum(prompt_token_counts(self._tokenizer, [Request(self._system, p) for p in prompts]))


def estimate_run(spec: JobSpec, *, run_id: str | None = None) -> Estimate:
    """Validate everything and size the run (a resume of `run_id` when that run has started)."""
    storage = storage_for(spec.output.uri)
    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id or DRY_RUN_ID)
    table = inspect_input(spec)
    model, adapters = resolve_models(spec)
    history = state.committed_manifests(storage, layout)[-HISTORY_RUNS:]
    committed = state.read_manifest(storage, layout) if run_id else None
    pinned = state.read_plan(storage, layout) if run_id else None
    reused_from = (
        pinned.reused_from if pinned else (state.read_latest(storage, layout) if spec.mode == "incremental" else None)
    )
    plan = fresh_plan(spec, run_id=layout.run_id, table=table, model=model, adapters=adapters, reused_from=reused_from)
    if pinned is not None:
        check_resume(pinned, plan)
    done = (
        {}
        if pinned is None
        else {
            i: r
            for i, r in state.read_shard_records(storage, layout).items()
            if i < len(plan.shards) and r.covers(plan.shards[i])
        }
    )
    todo = [] if committed is not None else [s for s in plan.shards if s.index not in done]
    config = stage_config(spec, table=table, model=model, adapters=adapters)
    counter = _TokenCounter(model.path, config.system)
    retry_spec = pinned.spec_sha256 if pinned is not None and pinned.retry else None
    previous = (
        previous_run(storage, layout, reused_from, id_column=spec.input.id_column, retry_spec=retry_spec)
        if todo
        else None
    )
    reused = generated = requests = 0
    for choice in select_rows(
        todo,
        config=config,
        id_column=spec.input.id_column,
        previous=previous,
        dedup=Dedup(enabled=deterministic(spec)),
        keep_tables=False,
        on_rendered=counter.add,
    ):
        reused += choice.rows_reused
        generated += choice.rows_generated
        requests += choice.engine_requests
    if committed is not None:
        reused, input_tokens = committed.totals.rows_in, committed.totals.input_tokens
    else:
        reused += sum(r.totals.rows_in for r in done.values())
        input_tokens = counter.total + sum(r.totals.input_tokens for r in done.values())
    tokens, seconds = _from_history(history, rows=generated, requests=requests)
    estimate = Estimate(
        job=spec.name,
        run_id=run_id,
        rows=table.rows,
        input_tokens=input_tokens,
        input_tokens_exact=counter.exact,
        rows_to_generate=generated,
        rows_reused=reused,
        engine_requests=requests,
        reused_from=previous.run_id if previous else None,
        estimated_output_tokens=tokens,
        estimated_seconds=seconds,
        history_runs=len(history),
    )
    return Estimate(**{**estimate.as_dict(), "over_budget": _over_budget(spec, estimate)})


def _from_history(history: list[Manifest], *, rows: int, requests: int) -> tuple[int | None, float | None]:
    """Output tokens per input row and seconds per generated row, from earlier runs."""
    sized = [m for m in history if m.totals.rows_in]
    if not sized:
        return None, None
    per_row = sum(m.totals.output_tokens for m in sized) / sum(m.totals.rows_in for m in sized)
    tokens = round(per_row * rows)
    timed = [m for m in sized if m.totals.rows_generated and m.timings.get("generate")]
    if not timed:
        return tokens, None
    per_generated = sum(m.timings["generate"] for m in timed) / sum(m.totals.rows_generated for m in timed)
    startup = statistics.median(startup_seconds(m.timings) for m in timed)
    seconds = (startup + per_generated * rows) if requests else 0.0
    return tokens, round(seconds, 1)


def _over_budget(spec: JobSpec, estimate: Estimate) -> list[str]:
    """One line per budget the estimate exceeds (an unknown estimate exceeds nothing)."""
    budget, found = spec.budget, []
    if budget is None:
        return found
    if budget.max_rows is not None and estimate.rows_to_generate > budget.max_rows:
        found.append(f"budget.max_rows {budget.max_rows}: the run would generate {estimate.rows_to_generate} rows")
    tokens = estimate.estimated_output_tokens
    if budget.max_output_tokens is not None and tokens is not None and tokens > budget.max_output_tokens:
        found.append(
            f"budget.max_output_tokens {budget.max_output_tokens}: the run would generate about {tokens} tokens"
        )
    return found
