"""pressroom against raw vLLM on the same prompts, model and sampling (issue 5).

    python benchmarks/engine_ratio.py                      # SmolLM2, 512 chats x 64 tokens, 3 pairs
    python benchmarks/engine_ratio.py --model tiny --prompts 64 --max-tokens 16 --pairs 1

Every prompt generates exactly --max-tokens tokens (greedy, ignore_eos). Each side runs in a
fresh process, back to back: (a) raw `vllm.LLM.chat`, (b) the pressroom job, (c) the engine in
a bare Ray actor, (d) Ray's `ray.data.llm` (skip with --skip-ray-llm); see engine_sides.py.
Generation phase: (a)/(c) the `chat` call; (b) first row handed to the loaded engine -> last
shard written (the runner's timings.generate, cross-checked by benchmarks.probes); (d) estimated
from its output rows.
Prints generated tokens/s per side, the per-pair and median ratios, (b)'s fixed overhead by
phase, and last `ratio=<median generation-phase ratio (b)/(a)>`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import child_main, exit_on_sigterm, median, run_child, working_directory

WORDS = [
    "the",
    "report",
    "our",
    "team",
    "market",
    "customer",
    "company",
    "revenue",
    "model",
    "quarter",
    "summary",
    "reader",
    "editor",
    "sales",
    "grew",
    "fell",
    "shows",
    "explains",
    "describes",
    "needs",
    "writes",
    "reads",
    "changes",
    "improves",
    "reviews",
    "builds",
    "cloud",
    "new",
    "product",
    "short",
    "answer",
    "percent",
    "data",
    "hardware",
    "clear",
    "title",
    "press",
    "release",
    "stories",
    "long",
    "article",
    "every",
    "page",
    "careful",
    "plan",
    "quick",
    "steady",
    "bright",
    "quiet",
    "modern",
    "honest",
    "simple",
    "useful",
    "global",
    "local",
    "strong",
    "early",
    "late",
    "friendly",
    "technical",
    "historic",
    "surprising",
    "meeting",
    "year",
    "noon",
    "delay",
]
# Per model: directory recipe, context length, and the longest prompt (words) that leaves room.
PRESETS = {"smollm2": {"max_model_len": 1024, "max_words": 200}, "tiny": {"max_model_len": 512, "max_words": 60}}
SIDE_NAMES = {
    "raw": "(a) raw vLLM.chat",
    "job": "(b) pressroom job",
    "actor": "(c) bare Ray actor",
    "ray_llm": "(d) ray.data.llm",
}


def make_prompts(count: int, *, max_words: int, seed: int = 0) -> list[str]:
    """Deterministic chat prompts whose lengths spread evenly over 8..max_words words."""
    rng = random.Random(seed)
    prompts = []
    for i in range(count):
        words = 8 + (i * 37) % max(1, max_words - 7)
        body = " ".join(rng.choice(WORDS) for _ in range(words))
        prompts.append(f"Summarize in one paragraph: {body}.")
    return prompts


def prepare_model(args: argparse.Namespace) -> Path:
    if args.model == "smollm2":
        from workers.models.default_model import prepare_default_model

        return prepare_default_model(log=lambda line: print(line, file=sys.stderr))
    if args.model == "tiny":
        from workers.home import pressroom_home

        target = (args.cache_dir or pressroom_home() / "bench-models") / "tiny-llama"
        if not (target / "model.safetensors").exists():
            from tests.tiny_models import build_tiny_llama

            build_tiny_llama(target)
        return target
    path = Path(args.model).resolve()
    if not (path / "config.json").exists():
        raise SystemExit(f"--model {args.model}: not smollm2, tiny, or a model directory")
    return path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (default), tiny, or a model directory")
    parser.add_argument("--prompts", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--pairs", type=int, default=3, help="back-to-back repetitions (median reported)")
    parser.add_argument("--skip-ray-llm", action="store_true", help="do not run (d) ray.data.llm")
    parser.add_argument("--max-model-len", type=int, default=None)
    parser.add_argument("--no-eager", action="store_true", help="let vLLM compile (slower start, faster decode)")
    parser.add_argument(
        "--vllm-mp",
        choices=["0", "1"],
        default="0",
        help="VLLM_ENABLE_V1_MULTIPROCESSING for (a)-(c); 0 is what VllmEngine sets",
    )
    parser.add_argument("--kvcache-gib", default="1", help="VLLM_CPU_KVCACHE_SPACE (VllmEngine's default: 1)")
    parser.add_argument("--batch-size", type=int, default=256, help="(b) resources.batch_size (spec default)")
    parser.add_argument("--rows-per-shard", type=int, default=1000, help="(b) input.rows_per_shard (spec default)")
    parser.add_argument("--ray-llm-batch-size", type=int, default=64)
    parser.add_argument(
        "--engine-threads",
        type=int,
        default=None,
        help="engine threads in (b) and (c) (default: the job's, all cores for one replica)",
    )
    parser.add_argument(
        "--dtype", default="auto", help="model.dtype on every side (auto: bfloat16 on vLLM's CPU backend)"
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="where --model tiny is built")
    parser.add_argument("--workdir", type=Path, default=None, help="keep prompts, outputs and logs here")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per side")
    parser.add_argument("--ray-llm-timeout", type=float, default=600, help="seconds for (d), which can hang")
    args = parser.parse_args(argv)
    preset = PRESETS.get(args.model, PRESETS["smollm2"])
    args.max_model_len = args.max_model_len or preset["max_model_len"]
    args.max_words = preset["max_words"]
    return args


def build_job(args: argparse.Namespace, *, model: Path, prompts_path: Path, workdir: Path) -> dict:
    engine_args = {} if args.no_eager else {"enforce_eager": True}
    sampling = {"temperature": 0.0, "max_tokens": args.max_tokens, "ignore_eos": True}
    spec = {
        "name": "engine-ratio",
        "input": {"uri": str(prompts_path), "id_column": "id", "rows_per_shard": args.rows_per_shard},
        "task": {"kind": "custom", "prompt": "{{ body }}"},
        "model": {
            "engine": "vllm",
            "source": str(model),
            "max_model_len": args.max_model_len,
            "dtype": args.dtype,
            "engine_args": engine_args,
        },
        "sampling": sampling,
        "output": {"uri": str(workdir / "out-job")},
        "resources": {"replicas": 1, "batch_size": args.batch_size, "threads_per_replica": args.engine_threads},
    }
    return {
        "model_path": str(model),
        "max_model_len": args.max_model_len,
        "dtype": args.dtype,
        "engine_args": engine_args,
        "sampling": sampling,
        "prompts": str(prompts_path),
        "spec": spec,
        "ray_llm_batch_size": args.ray_llm_batch_size,
        # (c) runs its engine with as many threads as (b)'s, so it is a like-for-like ceiling
        "engine_threads": args.engine_threads or os.cpu_count() or 1,
    }


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    with working_directory(args.workdir, prefix="pressroom-engine-ratio-") as workdir:
        run(args, workdir)


def run(args: argparse.Namespace, workdir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = prepare_model(args)
    prompts_path = workdir / "prompts.parquet"
    prompts = make_prompts(args.prompts, max_words=args.max_words)
    pq.write_table(pa.table({"id": [f"p{i:06d}" for i in range(len(prompts))], "body": prompts}), prompts_path)
    job = build_job(args, model=model, prompts_path=prompts_path, workdir=workdir)
    env = {"VLLM_CPU_KVCACHE_SPACE": str(args.kvcache_gib), "VLLM_ENABLE_V1_MULTIPROCESSING": args.vllm_mp}
    print(
        f"model {model} | {args.prompts} chats x {args.max_tokens} tokens (ignore_eos, greedy) | "
        f"max_model_len {args.max_model_len} | dtype {args.dtype} | engine_args {json.dumps(job['engine_args'])} | "
        f"env {json.dumps(env)} | engine threads (b)/(c) {job['engine_threads']} | cpus {os.cpu_count()}",
        flush=True,
    )
    script = Path(__file__).resolve()
    rows: list[dict[str, dict | None]] = []
    for pair in range(args.pairs):
        order = ["raw", "job"] if pair % 2 == 0 else ["job", "raw"]  # alternate to cancel drift
        order += ["actor"] + ([] if args.skip_ray_llm else ["ray_llm"])
        row = {}
        for side in order:
            side_env = {k: v for k, v in env.items() if side != "ray_llm" or k != "VLLM_ENABLE_V1_MULTIPROCESSING"}
            side_job = {**job, "spec": {**job["spec"], "output": {"uri": str(workdir / f"out-job-{pair}")}}}
            try:
                timeout = args.ray_llm_timeout if side == "ray_llm" else args.timeout
                row[side] = run_child(script, side=side, job=side_job, workdir=workdir, timeout=timeout, env=side_env)
            except Exception as exc:  # (d) is optional: report why instead of failing the run
                if side != "ray_llm":
                    raise
                print(f"(d) ray.data.llm failed: {str(exc).splitlines()[0]}", flush=True)
                row[side] = None
        rows.append(row)
        print_pair(pair, args.pairs, row, expected=args.prompts * args.max_tokens)
    report(rows)


def rate(result: dict) -> float:
    return result["tokens"] / result["gen_seconds"]


def print_pair(pair: int, pairs: int, row: dict, *, expected: int) -> None:
    parts = []
    for side, result in row.items():
        if result is None:
            continue
        if result["tokens"] != expected:
            raise SystemExit(f"{SIDE_NAMES[side]} generated {result['tokens']} tokens, expected {expected}")
        parts.append(
            f"{side} {rate(result):.1f} tok/s (gen {result['gen_seconds']:.2f} s, e2e {result['e2e_seconds']:.1f} s)"
        )
    ratio = rate(row["job"]) / rate(row["raw"])
    print(f"pair {pair + 1}/{pairs}: " + " | ".join(parts) + f" | b/a {ratio:.3f}", flush=True)


def report(rows: list[dict[str, dict | None]]) -> None:
    """Medians over pairs; a side's ratio is taken against (a) of the same pair."""
    sides = list(dict.fromkeys(side for row in rows for side, result in row.items() if result))
    runs = {side: [row[side] for row in rows if row.get(side)] for side in sides}
    ratios = {side: [rate(row[side]) / rate(row["raw"]) for row in rows if row.get(side)] for side in sides}
    job, raw = runs["job"], runs["raw"]
    print(f"\nmedian over {len(rows)} pair(s)      gen tok/s    gen s    e2e s   gen ratio vs (a)")
    for side in sides:
        print(
            f"{SIDE_NAMES[side]:<28} {median([rate(r) for r in runs[side]]):9.1f} "
            f"{median([r['gen_seconds'] for r in runs[side]]):8.2f} "
            f"{median([r['e2e_seconds'] for r in runs[side]]):8.1f} {median(ratios[side]):10.3f}"
        )
    print(f"(b)/(a) generation-phase ratio: {median(ratios['job']):.3f} (target >= 0.95)")
    if "actor" in runs:
        above = median([rate(row["job"]) / rate(row["actor"]) for row in rows])
        print(
            f"(c)/(a) bare-actor ceiling: {median(ratios['actor']):.3f}; "
            f"(b)/(c) pipeline against that ceiling: {above:.3f}"
        )
    extra = median([row["job"]["e2e_seconds"] - row["raw"]["e2e_seconds"] for row in rows])
    print(f"end to end (b) - (a): {extra:+.1f} s (target <= +10 s)")
    if "actor" in runs:
        above = median([row["job"]["e2e_seconds"] - row["actor"]["e2e_seconds"] for row in rows])
        print(f"end to end (b) - (c): {above:+.1f} s (the pipeline's own cost above a bare Ray actor)")
    print(f"(a) phases (median s): {_medians([r['phases'] for r in raw])}")
    print(f"(b) phases, consecutive (median s): {_medians([j['phases'] for j in job])}")
    print(
        f"(b) fixed overhead (e2e - generation): {median([j['e2e_seconds'] - j['gen_seconds'] for j in job]):.2f} s;"
        f" overlapped inside the phases (median s): {_medians([j['overlapped'] for j in job])}"
    )
    print(
        f"(b) generation window: runner's timings.generate {median([j['gen_seconds'] for j in job]):.3f} s, "
        f"probes {median([j['gen_seconds_probe'] for j in job]):.3f} s (first generate call -> last shard written)"
    )
    busy = median([j["engine_busy_seconds"] / j["gen_seconds_probe"] for j in job])
    print(
        f"(b) engine busy {busy:.1%} of its generation window, {job[0]['generate_calls']} generate call(s);"
        f" manifest timings {json.dumps(job[-1]['manifest_timings'])}"
    )
    print(
        "engine threads per side: "
        + "; ".join(f"{side} {json.dumps(runs[side][0]['threads'])}" for side in sides if "threads" in runs[side][0])
    )
    tokens = {side: median([r["input_tokens"] for r in runs[side]]) for side in sides}
    alike = "identical" if len(set(tokens.values())) == 1 else "DIFFERENT: the sides did not tokenize alike"
    print(f"prompt tokens per side: {_medians([tokens])} ({alike})")
    value = median(ratios["job"])
    if not (math.isfinite(value) and value > 0):
        raise SystemExit(f"bad ratio {value}")
    print(f"ratio={value:.3f}")


def _medians(dicts: list[dict]) -> str:
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    return ", ".join(f"{k} {median([d[k] for d in dicts if k in d]):.2f}" for k in keys)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from benchmarks.engine_sides import SIDES

    if not child_main(SIDES, sys.argv[1:]):
        main(sys.argv[1:])
