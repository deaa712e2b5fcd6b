"""Timestamps from inside a pressroom job's Ray workers, for the benchmark only.

The runner records the generation window and the engine load itself (timings.generate and
timings.engine_load, since 180e769); these probes cross-check that window and add what it does
not record: the `import vllm` share of the load, read and render time, and the engine's thread
count. `install` is a Ray `worker_process_setup_hook`: in every worker it points the "vllm"
registry entry at `TimedVllmEngine` (the real engine plus timestamps) and wraps the render
stage's read and render, appending one JSON line per event to a file in
`$PRESSROOM_BENCH_EVENTS`. `install_ray_llm` is side (d)'s hook: it times each request inside
ray.data.llm's vLLM stage. Wall-clock time (`time.time`) so events compare across processes.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

from workers.engines.vllm_engine import VllmEngine

EVENTS_ENV = "PRESSROOM_BENCH_EVENTS"
RAY_LLM_STAGE = "ray.llm._internal.batch.stages.vllm_engine_stage"


def record(event: str, start: float, end: float, **fields) -> None:
    """Append one event to this process's events file (no-op without $PRESSROOM_BENCH_EVENTS)."""
    folder = os.environ.get(EVENTS_ENV)
    if not folder:
        return
    line = json.dumps({"event": event, "start": start, "end": end, "pid": os.getpid(), **fields})
    with open(Path(folder) / f"events-{os.getpid()}.jsonl", "a") as stream:
        stream.write(line + "\n")


def read_events(folder: str | Path) -> list[dict]:
    """All events written under `folder`, ordered by start time."""
    events = []
    for path in Path(folder).glob("events-*.jsonl"):
        events += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(events, key=lambda e: e["start"])


def threads() -> dict:
    """The compute threads this process runs the engine with (Ray sets OMP_NUM_THREADS=num_cpus)."""
    import torch

    return {
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "affinity": len(os.sched_getaffinity(0)),
        "niceness": os.nice(0),
    }


class TimedVllmEngine(VllmEngine):
    """The real vLLM engine; records load and each generate call (start, end, rows)."""

    def load(self) -> None:
        began = time.time()
        import vllm  # noqa: F401  (timed apart: the import alone is a large part of a cold load)

        imported = time.time()
        super().load()
        record("engine_load", began, time.time(), imported=imported, **threads())

    def generate(self, requests):
        began = time.time()
        results = super().generate(requests)
        record("generate_call", began, time.time(), rows=len(requests))
        return results


def install() -> None:
    """Worker setup hook: timed engine under the name "vllm", timed read and render."""
    from workers import engines as engine
    from workers.render import stage as pipeline

    engine.ENGINES["vllm"] = f"{__name__}:TimedVllmEngine"
    read_shards = pipeline.read_shards
    renderer = pipeline.PromptRenderer

    def timed_read_shards(shards, *, columns):
        shards_read = iter(read_shards(shards, columns=columns))
        while True:
            began = time.time()
            item = next(shards_read, None)
            if item is None:
                return
            record("read", began, time.time(), rows=item[1].num_rows)
            yield item

    class TimedPromptRenderer(renderer):
        def render_table(self, table):
            began = time.time()
            rendered = super().render_table(table)
            record("render", began, time.time(), rows=table.num_rows)
            return rendered

    pipeline.read_shards = timed_read_shards
    pipeline.PromptRenderer = TimedPromptRenderer


def install_ray_llm() -> None:
    """Worker setup hook for `ray.data.llm`: once a worker imports its vLLM stage (only the stage
    actor does; the import loads torch and vLLM), each request records when it was handed to the
    engine (after the stage's pending-request semaphore) and when its output finished."""
    sys.meta_path.insert(0, _AfterImport(RAY_LLM_STAGE, _time_ray_llm_requests))


def _time_ray_llm_requests(module) -> None:
    generate = module.vLLMEngineWrapper._generate_async

    async def timed(self, request):
        began = time.time()
        output = await generate(self, request)
        record("ray_llm_request", began, time.time())
        return output

    module.vLLMEngineWrapper._generate_async = timed


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `patch(module)` right after the named module is first imported."""

    def __init__(self, name: str, patch):
        self._name, self._patch = name, patch

    def find_spec(self, name, path=None, target=None):
        if name != self._name:
            return None
        sys.meta_path.remove(self)  # find the real spec without coming back here
        spec = importlib.util.find_spec(name)
        execute, patch = spec.loader.exec_module, self._patch

        def exec_then_patch(module):
            execute(module)
            patch(module)

        spec.loader.exec_module = exec_then_patch
        return spec
