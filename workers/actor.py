"""The generation actor: owns one engine, turns rendered rows into output rows.

Ray Data constructs one per actor in the pool (the engine loads once there) and calls it with
Arrow batches from the render stage. Every input row comes back exactly once, in order.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pyarrow as pa

from workers.engine import EngineConfig, Request, Result, build_engine, finalize_text, generate_checked
from workers.models import local_copy

GEN_START = "_gen_start"
GEN_END = "_gen_end"
ENGINE_LOAD = "_engine_load_s"

# Columns the generation stage adds (the render stage added prompt, prompt_sha256, error_*).
TEXT_FIELDS = [
    pa.field("text", pa.string()),
    pa.field("finish_reason", pa.string()),
    pa.field("num_input_tokens", pa.int64()),
    pa.field("num_output_tokens", pa.int64()),
    pa.field("model", pa.string()),
]


def results_to_columns(results: list[Result], *, model: str) -> dict[str, pa.Array]:
    """Arrow columns for a list of results, in the order given."""
    return {
        "text": pa.array([r.text for r in results], pa.string()),
        "finish_reason": pa.array([r.finish_reason for r in results], pa.string()),
        "num_input_tokens": pa.array([r.num_input_tokens for r in results], pa.int64()),
        "num_output_tokens": pa.array([r.num_output_tokens for r in results], pa.int64()),
        "model": pa.array([model] * len(results), pa.string()),
        "error_code": pa.array([r.error_code for r in results], pa.string()),
        "error_message": pa.array([r.error_message for r in results], pa.string()),
    }


def generate_table(engine, table: pa.Table, *, system: str | None, model: str) -> pa.Table:
    """Generate for every rendered row without an error; carry render errors through as they are."""
    prompts = table.column("prompt").to_pylist()
    codes = table.column("error_code").to_pylist()
    messages = table.column("error_message").to_pylist()
    todo = [i for i, code in enumerate(codes) if code is None]
    generated = generate_checked(engine, [Request(system=system, prompt=prompts[i]) for i in todo])
    results: list[Result] = [Result(None, None, 0, 0, code, message) for code, message in zip(codes, messages)]
    for i, result in zip(todo, generated, strict=True):
        results[i] = finalize_text(result)
    out = table.drop_columns(["prompt", "error_code", "error_message"])
    for name, column in results_to_columns(results, model=model).items():
        out = out.append_column(name, column)
    return out


class GenerationActor:
    """A Ray Data callable class: the engine loads in the constructor, once per actor."""

    def __init__(self, *, engine_name: str, config: EngineConfig, system: str | None):
        started = time.monotonic()
        config = replace(
            config,
            model_path=local_copy(config.model_path, expected_sha256=config.model_sha256),
            adapter_path=config.adapter_path
            and local_copy(config.adapter_path, expected_sha256=config.adapter_sha256),
        )
        self._engine = build_engine(engine_name, config)
        self._engine.load()
        self.load_seconds = time.monotonic() - started
        self._system = system
        self._model = config.model_name

    def __call__(self, batch: pa.Table) -> pa.Table:
        started = time.time()
        out = generate_table(self._engine, batch, system=self._system, model=self._model)
        # Wall-clock marks for the driver's timings (dropped before rows are written).
        rows = out.num_rows
        out = out.append_column(GEN_START, pa.array([started] * rows, pa.float64()))
        out = out.append_column(GEN_END, pa.array([time.time()] * rows, pa.float64()))
        return out.append_column(ENGINE_LOAD, pa.array([self.load_seconds] * rows, pa.float64()))

    def __del__(self):
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.close()
