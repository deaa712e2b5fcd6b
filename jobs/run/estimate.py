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
from jobs.reuse import Dedup, previous_run, select_rows
from jobs.run.prepare import PreparedRun, prepare_run
from schemas.manifest import Manifest, startup_seconds
from schemas.rows import ERROR_CODE, IMAGE, PROMPT
from schemas.spec import JobSpec
from workers.engines import Request, load_tokenizer, prompt_token_counts

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
        self.total += sum(prompt_token_counts(self._tokenizer, [Request.from_prompt(self._system, p) for p in prompts]))


def estimate_run(spec: JobSpec, *, run_id: str | None = None) -> Estimate:
    """Validate everything and size the run (a resume of `run_id` when that run has started)."""
    return estimate(prepare_run(spec, run_id=run_id or DRY_RUN_ID), run_id=run_id)


def estimate(prepared: PreparedRun, *, run_id: str | None = None) -> Estimate:
    """Size a prepared run: the rows it would copy and generate, their exact prompt tokens, and
    output tokens and seconds from the job's earlier runs."""
    spec, storage, layout, plan = prepared.spec, prepared.storage, prepared.layout, prepared.plan
    history = state.committed_manifests(storage, layout)[-HISTORY_RUNS:]
    committed = state.read_manifest(storage, layout) if run_id else None
    if prepared.pinned is not None:
        prepared = prepared.with_records(state.read_shard_records(storage, layout))
    todo = [] if committed is not None else prepared.todo
    counter = _TokenCounter(prepared.model.path, spec.task.system)
    retry_spec = plan.spec_sha256 if prepared.pinned is not None and plan.retry else None
    previous = (
        previous_run(storage, layout, plan.reused_from, id_column=spec.input.id_column, retry_spec=retry_spec)
        if todo
        else None
    )
    reused = generated = requests = 0
    for choice in select_rows(todo, config=prepared.render.config, id_column=spec.input.id_column,
                              previous=previous, dedup=Dedup(enabled=prepared.deterministic), keep_tables=False,
                              on_rendered=counter.add):  # fmt: skip
        reused += choice.rows_reused
        generated += choice.rows_generated
        requests += choice.engine_requests
    done = prepared.done.values()
    if committed is not None:
        reused, input_tokens = committed.totals.rows_in, committed.totals.input_tokens
    else:
        reused += sum(r.totals.rows_in for r in done)
        input_tokens = counter.total + sum(r.totals.input_tokens for r in done)
    tokens, seconds = _from_history(history, rows=generated, requests=requests)
    found = Estimate(
        job=spec.name,
        run_id=run_id,
        rows=prepared.table.rows,
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
    return Estimate(**{**found.as_dict(), "over_budget": _over_budget(spec, found)})


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
