"""The generation actor: owns one engine, turns rendered rows into output rows.

Ray Data constructs one per actor in the pool (the engine loads once there) and calls it with
Arrow batches from the render stage. Every input row comes back exactly once, in order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import pyarrow as pa

from schemas.rows import (
    ACTOR,
    ADAPTER,
    ENGINE_LOAD,
    ERROR_CODE,
    ERROR_MESSAGE,
    FINISH_REASON,
    GEN_END,
    GEN_START,
    IMAGE,
    INCARNATION,
    MODEL,
    NODE,
    NUM_INPUT_TOKENS,
    NUM_OUTPUT_TOKENS,
    PROMPT,
    SAMPLE_INDEX,
    TEXT,
)
from workers.engines import (
    EngineConfig,
    Request,
    Result,
    build_engine,
    finalize_text,
    generate_checked,
    samples_per_request,
    structured_columns,
)
from workers.metrics import EngineMetrics
from workers.models import local_copy
from workers.secrets import load_secrets

BATCHES_IN_FLIGHT = 2  # one generating, the next already queued in the engine


def results_to_columns(results: list[Result], *, model: str) -> dict[str, pa.Array]:
    """Arrow columns for a list of results, in the order given."""
    return {
        TEXT: pa.array([r.text for r in results], pa.string()),
        FINISH_REASON: pa.array([r.finish_reason for r in results], pa.string()),
        NUM_INPUT_TOKENS: pa.array([r.num_input_tokens for r in results], pa.int64()),
        NUM_OUTPUT_TOKENS: pa.array([r.num_output_tokens for r in results], pa.int64()),
        MODEL: pa.array([model] * len(results), pa.string()),
        ERROR_CODE: pa.array([r.error_code for r in results], pa.string()),
        ERROR_MESSAGE: pa.array([r.error_message for r in results], pa.string()),
    }


def _optional_column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


def generate_table(
    engine,
    table: pa.Table,
    *,
    system: str | None,
    model: str,
    output_schema: dict | None = None,
    keep_prompts: bool = False,
) -> pa.Table:
    """n output rows per input row (sample_index 0..n-1); render errors carried through as they are
    (the rendered prompt kept as a column when `keep_prompts`)."""
    n = samples_per_request(engine.config)
    prompts = table.column(PROMPT).to_pylist()
    adapters = _optional_column(table, ADAPTER)
    images = _optional_column(table, IMAGE)
    codes = table.column(ERROR_CODE).to_pylist()
    todo = [i for i, code in enumerate(codes) if code is None]  # rows that rendered
    generated = generate_checked(
        engine, [Request.from_prompt(system, prompts[i], adapters[i], images[i]) for i in todo]
    )
    results = [finalize_text(r) for r in generated]
    if len(todo) < table.num_rows:
        results = _with_render_errors(results, codes, table.column(ERROR_MESSAGE).to_pylist(), n=n)
    structured: dict[str, pa.Array] = {}
    if output_schema is not None:
        results, structured = structured_columns(results, output_schema=output_schema)
    dropped = (
        (ERROR_CODE, ERROR_MESSAGE, ADAPTER, IMAGE)
        if keep_prompts
        else (PROMPT, ERROR_CODE, ERROR_MESSAGE, ADAPTER, IMAGE)
    )
    drop = [c for c in dropped if c in table.column_names]
    out = table.drop_columns(drop)
    if n > 1:
        out = out.take(pa.array([i for i in range(table.num_rows) for _ in range(n)], pa.int64()))
    out = out.append_column(SAMPLE_INDEX, pa.array([j for _ in range(table.num_rows) for j in range(n)], pa.int32()))
    for name, column in {**results_to_columns(results, model=model), **structured}.items():
        out = out.append_column(name, column)
    return out


def _with_render_errors(generated: list[Result], codes: list, messages: list, *, n: int) -> list[Result]:
    """Rows in input order, n results each: generated for the rows that rendered, n copies of the
    render error for the others."""
    results: list[Result] = []
    done = 0
    for code, message in zip(codes, messages, strict=True):
        if code is None:
            results += generated[done : done + n]
            done += n
        else:
            results += [Result(None, None, 0, 0, code, message)] * n
    return results


def _placement() -> dict[str, str]:
    """This actor's node, id and a fresh incarnation (a restarted actor runs __init__ again)."""
    import ray

    context = ray.get_runtime_context() if ray.is_initialized() else None
    return {
        NODE: context.get_node_id() if context else "local",
        ACTOR: (context.get_actor_id() if context else None) or "local",
        INCARNATION: uuid.uuid4().hex[:12],
    }


@dataclass(frozen=True)
class GenerateConfig:
    """What a generation actor is built with: the engine by name and its typed configuration, the
    system prompt, the job (its metrics' label), and whether rendered prompts travel on."""

    engine: str
    engine_config: EngineConfig
    system: str | None = None
    job: str = ""
    keep_prompts: bool = False  # output.store_prompts


class GenerationActor:
    """A Ray Data callable class: the engine loads in the constructor, once per actor."""

    def __init__(self, config: GenerateConfig):
        started = time.monotonic()
        load_secrets()  # a submitted run's credentials (s3:// models), by reference
        engine_config = config.engine_config
        engine_config = replace(
            engine_config,
            model_path=local_copy(engine_config.model_path, expected_sha256=engine_config.model_sha256),
            adapters={
                name: local_copy(path, expected_sha256=engine_config.adapter_sha256s.get(name))
                for name, path in engine_config.adapters.items()
            },
        )
        self._engine = build_engine(config.engine, engine_config)
        # Batches run in these threads: an engine that can share takes BATCHES_IN_FLIGHT at once,
        # so the next batch is already in it when the current one finishes; others take one.
        self._threads = ThreadPoolExecutor(BATCHES_IN_FLIGHT if self._engine.concurrent else 1)
        # Loaded in the thread that generates: CPU backends bind compute threads to the loader's.
        self._threads.submit(self._engine.load).result()
        self.load_seconds = time.monotonic() - started
        self._system = config.system
        self._model = engine_config.model_name
        self._output_schema = engine_config.output_schema
        self._keep_prompts = config.keep_prompts
        self._placement = _placement()
        self._metrics = EngineMetrics(config.job)

    async def __call__(self, batch: pa.Table) -> pa.Table:
        """Async, so Ray Data hands this actor several batches at once (see `_threads`)."""
        started = time.time()
        out = await asyncio.get_running_loop().run_in_executor(self._threads, self._generate, batch)
        self._metrics.batch(out, time.time() - started)
        # Wall-clock marks for the driver's timings (dropped before rows are written).
        rows = out.num_rows
        out = out.append_column(GEN_START, pa.array([started] * rows, pa.float64()))
        out = out.append_column(GEN_END, pa.array([time.time()] * rows, pa.float64()))
        out = out.append_column(ENGINE_LOAD, pa.array([self.load_seconds] * rows, pa.float64()))
        for name, value in self._placement.items():  # where the rows came from (the driver counts them)
            out = out.append_column(name, pa.array([value] * rows, pa.string()))
        return out

    def _generate(self, batch: pa.Table) -> pa.Table:
        return generate_table(
            self._engine,
            batch,
            system=self._system,
            model=self._model,
            output_schema=self._output_schema,
            keep_prompts=self._keep_prompts,
        )

    def __del__(self):
        threads = getattr(self, "_threads", None)
        if threads is not None:
            threads.shutdown(wait=True)
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.close()
