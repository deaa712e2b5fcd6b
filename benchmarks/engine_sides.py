"""The sides `engine_ratio.py` compares; each runs alone in a fresh child process.

(a) raw: `vllm.LLM.chat` on every prompt at once, in this one process.
(b) job: a pressroom job (`jobs.run.run_job` on local Ray, Parquet in, Parquet + manifest out).
(c) actor: one `LLM.chat` of every prompt inside one bare Ray actor (num_cpus=1): the ceiling
    for any pipeline that runs its engine in a Ray actor on this machine.
(d) ray_llm: Ray's own `ray.data.llm` processor (logical GPU, `log_engine_metrics=False`).

All sides use the engine settings and sampling parameters pressroom's `VllmEngine` uses, built
by the same code where it is importable. Times are wall-clock (`time.time`) so they compare
across processes. Each side returns a dict; `gen_seconds`/`tokens` define its generation rate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.harness import peak_rss_mib, start_ray
from benchmarks.probes import threads


def llm_args(job: dict) -> dict[str, Any]:
    """`vllm.LLM` keyword arguments exactly as `VllmEngine.load` builds them (CPU host)."""
    from workers.engines.vllm_engine import CPU_DEFAULTS

    args: dict[str, Any] = {"model": job["model_path"], "dtype": job["dtype"], "max_model_len": job["max_model_len"]}
    args.update(CPU_DEFAULTS)
    args.update(job["engine_args"])
    return args


def sampling_params(job: dict):
    """The SamplingParams `VllmEngine` would use for the job's sampling section."""
    from workers.engines import EngineConfig
    from workers.engines.vllm_engine import VllmEngine

    config = EngineConfig(model_path=job["model_path"], model_name="bench", sampling=job["sampling"])
    return VllmEngine(config)._sampling_params()


def read_prompts(path: str) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=["body"]).column("body").to_pylist()


def conversations(prompts: list[str]) -> list[list[dict[str, str]]]:
    # No system prompt: the job's custom task has none either.
    return [[{"role": "user", "content": prompt}] for prompt in prompts]


def _counts(outputs) -> tuple[int, int]:
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    return tokens, sum(len(o.prompt_token_ids) for o in outputs)


def _shutdown(llm) -> None:
    engine = getattr(llm, "llm_engine", None)
    shutdown = getattr(engine, "shutdown", None) or getattr(getattr(engine, "engine_core", None), "shutdown", None)
    if shutdown:
        shutdown()


def side_raw(job: dict) -> dict:
    """(a) raw vLLM: engine start, then one `chat` over every prompt."""
    chats = conversations(read_prompts(job["prompts"]))
    started = time.time()
    from vllm import LLM

    imported = time.time()
    llm = LLM(**llm_args(job))
    loaded = time.time()
    params = sampling_params(job)
    began = time.time()
    outputs = llm.chat(chats, params, use_tqdm=False)
    ended = time.time()
    tokens, input_tokens = _counts(outputs)
    _shutdown(llm)
    return {
        "tokens": tokens,
        "input_tokens": input_tokens,
        "gen_seconds": ended - began,
        "threads": threads(),
        "e2e_seconds": ended - job["spawned_at"],
        "phases": {
            "startup": started - job["spawned_at"],
            "import_vllm": imported - started,
            "engine_load": loaded - imported,
        },
        "peak_rss_mib": peak_rss_mib(),
    }


def side_job(job: dict) -> dict:
    """(b) the pressroom job; engine, read and render timed from inside by benchmarks.probes."""
    import ray

    from benchmarks.probes import EVENTS_ENV, read_events
    from jobs.run import Progress, RunOptions, run_job
    from schemas.spec import JobSpec

    events_dir = Path(job["result_file"]).with_name(f"events-{time.time_ns()}")
    events_dir.mkdir()
    env = {EVENTS_ENV: str(events_dir)}
    ray_seconds = start_ray(setup_hook="benchmarks.probes.install", env=env)
    spec = JobSpec.model_validate(job["spec"])
    written: list[float] = []
    progress = Progress(rows_total=0, on_update=lambda p: written.append(time.time()))
    began = time.time()
    result = run_job(spec, options=RunOptions(progress=progress))  # a fresh run id: a reused --workdir never resumes
    ended = time.time()
    ray.shutdown()
    events = read_events(events_dir)
    manifest = result.manifest
    # A random tiny model can generate whitespace only: an `empty_output` row, still generated.
    if set(manifest.errors) - {"empty_output"}:
        raise RuntimeError(f"job rows failed: {manifest.errors}")
    loads = [e for e in events if e["event"] == "engine_load"]
    calls = [e for e in events if e["event"] == "generate_call"]
    if len(loads) != 1 or not calls:
        raise RuntimeError(f"expected one engine load and some generate calls, got {len(loads)} and {len(calls)}")
    load, first_call, last_write = loads[0], calls[0]["start"], written[-1]
    validated = began + manifest.timings["validate"]
    # The window: first row handed to a loaded engine -> last generated row written.
    # The runner records it itself since 180e769 (timings.generate); the probes measure it too.
    probed = last_write - first_call
    return {
        "tokens": manifest.totals.output_tokens,
        "input_tokens": manifest.totals.input_tokens,
        "gen_seconds": manifest.timings.get("generate", probed) if "engine_load" in manifest.timings else probed,
        "gen_seconds_probe": probed,
        "e2e_seconds": ended - job["spawned_at"],
        "phases": {  # consecutive: they add up to e2e_seconds
            "startup": began - job["spawned_at"] - ray_seconds,
            "ray_start": ray_seconds,
            "validate": validated - began,
            "actor_start": load["start"] - validated,
            "import_vllm": load["imported"] - load["start"],
            "engine_load": load["end"] - load["imported"],
            "first_batch_wait": first_call - load["end"],
            "generation": probed,
            "commit": ended - last_write,
        },
        "overlapped": {  # inside the phases above, summed over tasks
            "read": sum(e["end"] - e["start"] for e in events if e["event"] == "read"),
            "render": sum(e["end"] - e["start"] for e in events if e["event"] == "render"),
            "write": manifest.timings.get("write", 0.0),
        },
        "generate_calls": len(calls),
        "threads": {k: load[k] for k in ("torch_threads", "omp_num_threads", "affinity", "niceness")},
        "engine_busy_seconds": covered_seconds([(e["start"], e["end"]) for e in calls]),
        "manifest_timings": manifest.timings,
        "peak_rss_mib": peak_rss_mib(),
    }


class BareEngine:
    """(c) the engine alone in a Ray actor: load, then one `chat` over every prompt."""

    def __init__(self, job: dict):
        self._job = job
        self._llm = None

    def load(self) -> tuple[float, float]:
        began = time.time()
        from vllm import LLM

        self._llm = LLM(**llm_args(self._job))
        return began, time.time()

    def chat(self, prompts: list[str]) -> dict:
        params = sampling_params(self._job)
        chats = conversations(prompts)
        began = time.time()
        outputs = self._llm.chat(chats, params, use_tqdm=False)
        ended = time.time()
        tokens, input_tokens = _counts(outputs)
        return {"began": began, "ended": ended, "tokens": tokens, "input_tokens": input_tokens, "threads": threads()}

    def close(self) -> None:
        _shutdown(self._llm)


def covered_seconds(intervals: list[tuple[float, float]]) -> float:
    """Seconds inside at least one interval: generate calls overlap when batches share the engine."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total


def side_actor(job: dict) -> dict:
    """(c) bare-actor ceiling; the generation window is the `chat` call inside the actor."""
    import ray

    from jobs.run.stages import engine_env

    ray_seconds = start_ray()
    prompts = read_prompts(job["prompts"])
    # The job's actor environment: its engine threads, niceness 0
    env = {"env_vars": engine_env(job["engine_threads"])}
    actor = ray.remote(num_cpus=1, runtime_env=env)(BareEngine).remote(job)
    load_began, load_ended = ray.get(actor.load.remote())
    call = ray.get(actor.chat.remote(prompts))
    returned = time.time()
    ray.get(actor.close.remote())
    ray.shutdown()
    return {
        "tokens": call["tokens"],
        "input_tokens": call["input_tokens"],
        "gen_seconds": call["ended"] - call["began"],
        "e2e_seconds": returned - job["spawned_at"],
        "threads": call["threads"],
        "phases": {"ray_start": ray_seconds, "engine_load": load_ended - load_began},
    }


SMALL_CPU = 0.25


def side_ray_llm(job: dict) -> dict:
    """(d) `ray.data.llm`: Parquet read here -> chat template -> tokenize -> vLLM (async) -> write Parquet.

    Its generation window is timed inside its vLLM stage by `benchmarks.probes.install_ray_llm`:
    from the first request handed to the engine to the last request's output, as (a)'s window
    runs from the first prompt submitted to the last output.
    """
    import pyarrow.parquet as pq
    import ray
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from benchmarks.probes import EVENTS_ENV, read_events

    events_dir = Path(job["result_file"]).with_name(f"ray-llm-events-{time.time_ns()}")
    events_dir.mkdir()
    # A logical GPU: the vLLM stage asks for one.
    ray_seconds = start_ray(
        num_gpus=1, setup_hook="benchmarks.probes.install_ray_llm", env={EVENTS_ENV: str(events_dir)}
    )
    engine_kwargs = {k: v for k, v in llm_args(job).items() if k != "model"}
    # By default the chat-template, tokenize and detokenize actors take 1 CPU each and hold them:
    # on 2 CPUs the engine actor (1 CPU + the logical GPU) then never starts. A quarter each fits,
    # and leaves SMALL_CPU for the (postprocess -> write) tasks, which run one at a time.
    small = {"num_cpus": SMALL_CPU}
    config = vLLMEngineProcessorConfig(
        model_source=job["model_path"],
        engine_kwargs=engine_kwargs,
        batch_size=job["ray_llm_batch_size"],
        concurrency=1,
        log_engine_metrics=False,
        chat_template_stage=small,
        tokenize_stage=small,
        detokenize_stage=small,
    )
    sampling = {
        "temperature": 0.0,
        "top_p": 1.0,
        "top_k": -1,
        "max_tokens": job["sampling"]["max_tokens"],
        "ignore_eos": True,
    }
    processor = build_processor(
        config,
        preprocess=lambda row: {"messages": [{"role": "user", "content": row["body"]}], "sampling_params": sampling},
        postprocess=lambda row: {
            "id": row["id"],
            "text": row["generated_text"],
            "num_output_tokens": row["num_generated_tokens"],
            "num_input_tokens": row["num_input_tokens"],
        },
        preprocess_map_kwargs=small,
        postprocess_map_kwargs=small,
    )
    out = Path(job["result_file"]).with_name(f"ray-llm-out-{time.time_ns()}")
    # Not `ray.data.read_parquet`: in Ray 2.60 it starts with a ListFiles task that always asks for
    # 1 CPU (ray_remote_args reach only the ReadFiles tasks). The stage actors are placed first and
    # hold 1.75 of the 2 CPUs, so that task waits forever and no row ever reaches the engine.
    # The prompts are read in this process instead, as (a) and (c) read theirs.
    dataset = ray.data.from_arrow(pq.read_table(job["prompts"], columns=["id", "body"]))
    processor(dataset).write_parquet(str(out), ray_remote_args=small)
    ended = time.time()
    ray.shutdown()
    table = pq.read_table(out)
    requests = [e for e in read_events(events_dir) if e["event"] == "ray_llm_request"]
    if len(requests) != table.num_rows:
        raise RuntimeError(f"timed {len(requests)} engine requests for {table.num_rows} output rows")
    return {
        "tokens": sum(table.column("num_output_tokens").to_pylist()),
        "input_tokens": sum(table.column("num_input_tokens").to_pylist()),
        "rows": table.num_rows,
        "gen_seconds": max(e["end"] for e in requests) - requests[0]["start"],
        "e2e_seconds": ended - job["spawned_at"],
        "phases": {"ray_start": ray_seconds},
    }


SIDES = {"raw": side_raw, "job": side_job, "actor": side_actor, "ray_llm": side_ray_llm}
