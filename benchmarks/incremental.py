"""Incremental nights: what a night costs when 5% of its rows changed (issue 9).

    .venv/bin/python benchmarks/incremental.py              # SmolLM2, 4000 rows x 32 tokens: ~10 min here
    .venv/bin/python benchmarks/incremental.py --rows 60 --model DIR --max-tokens 4   # smoke

Night 1 is a full run of a table where generation dominates (default model, vLLM on the CPU);
night 2 edits 3% of the rows (each gets a distinct new prompt), adds 2% new ones and runs
`mode: incremental` in a fresh CLI process. Both nights are `pressroom run --json` child
processes, measured from spawn to exit, and split with the manifest's timings into
- start-up: Ray start (`ray_start`) and the graph's start until the loaded engine takes its first
  rows (`startup`: Ray Data's workers, the actor, the engine load),
- the steady window: the run's own wall time (`run`, validate -> manifest built) minus start-up:
  planning, the reuse copy, generation, writes and commit.
The last line is `ratio=R`: night 2's rows_in per second of its steady window over night 1's
(20 would be ideal for 5% changed rows; the target is >= 15).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PROJECT_ROOT, QUIET_ENV, working_directory
from schemas.manifest import startup_seconds

TOPICS = [
    "quarterly revenue",
    "a storm front",
    "the cup final",
    "a new phone",
    "the city council",
    "a comet",
    "rail fares",
    "a museum opening",
    "vaccine trials",
    "port congestion",
    "a bond auction",
    "wildfires",
]


def article(i: int, *, edit: int = 0) -> str:
    """A distinct body per row (and per edit), 40-120 words."""
    words = [f"Item {i} (revision {edit}) reports on {TOPICS[i % len(TOPICS)]}."]
    for k in range(8 + (i * 7 + edit) % 16):
        words.append(f"Witness {k} said {TOPICS[(i + k + edit) % len(TOPICS)]} mattered for district {i % 97}.")
    return " ".join(words)


def night_tables(rows: int) -> tuple[pa.Table, pa.Table, int, int]:
    """Night 1's table; night 2's: 3% of rows edited, 2% new rows appended."""
    ids = [f"a{i:06d}" for i in range(rows)]
    first = pa.table(
        {"id": ids, "title": [f"Story {i}" for i in range(rows)], "body": [article(i) for i in range(rows)]}
    )
    edited = max(1, round(rows * 0.03))
    added = max(1, round(rows * 0.02))
    step = rows // edited
    edit_rows = {i * step for i in range(edited)}
    bodies = [article(i, edit=1) if i in edit_rows else article(i) for i in range(rows)]
    new = range(rows, rows + added)
    second = pa.table(
        {
            "id": ids + [f"a{i:06d}" for i in new],
            "title": [f"Story {i}" for i in range(rows)] + [f"Story {i}" for i in new],
            "body": bodies + [article(i) for i in new],
        }
    )
    return first, second, edited, added


def spec(workdir: Path, *, model: str, max_tokens: int, dtype: str) -> Path:
    job = {
        "name": "incremental-bench",
        "mode": "incremental",
        "input": {
            "uri": str(workdir / "input.parquet"),
            "id_column": "id",
            "columns": ["title"],
            "rows_per_shard": 100,
        },
        "task": {"kind": "summary", "prompt": "Summarize in one sentence.\n\nTitle: {{ title }}\n\n{{ body }}"},
        "model": {
            "engine": "vllm",
            "source": model,
            "max_model_len": 1024,
            "dtype": dtype,
            "engine_args": {"enforce_eager": True},
        },
        "sampling": {"temperature": 0.0, "max_tokens": max_tokens, "ignore_eos": True},
        "output": {"uri": str(workdir / "out")},
        "resources": {"replicas": 1, "batch_size": 256},
    }
    path = workdir / "job.yaml"
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def night(spec_path: Path, *, log: Path, timeout: float) -> dict:
    """One `pressroom run --json` in a fresh process; its summary plus the process wall time."""
    began = time.monotonic()
    with log.open("w") as err:
        done = subprocess.run(
            [sys.executable, "-m", "jobs.cli", "run", str(spec_path), "--json"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            env={**os.environ, **QUIET_ENV},
        )
    wall = time.monotonic() - began
    if done.returncode != 0:
        raise SystemExit(f"night failed (exit {done.returncode}); see {log}")
    summary = json.loads(done.stdout)
    timings = summary["timings"]
    startup = startup_seconds(timings)
    return {
        "summary": summary,
        "wall": wall,
        "startup": startup,
        "run": timings["run"],
        "steady": timings["run"] - startup,
        "rows": summary["totals"]["rows_in"],
    }


def describe(name: str, result: dict) -> str:
    t, totals = result["summary"]["timings"], result["summary"]["totals"]
    return (
        f"{name}: {result['rows']} rows ({totals['rows_reused']} reused, {totals['rows_generated']} generated, "
        f"{totals['engine_requests']} engine requests) | wall {result['wall']:.1f} s | start-up "
        f"{result['startup']:.1f} s (ray {t.get('ray_start', 0):.1f}, graph+engine {t.get('startup', 0):.1f}, "
        f"engine load {t.get('engine_load', 0):.1f}) | steady {result['steady']:.1f} s (select "
        f"{t.get('select', 0):.2f}, generate {t.get('generate', 0):.1f}, ray shutdown {t.get('ray_shutdown', 0):.1f}) "
        f"| {result['rows'] / result['steady']:.1f} rows/s steady"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="night 1's rows")
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens generated per row (ignore_eos)")
    parser.add_argument("--model", default="default", help="model.source (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--dtype", default="bfloat16", help="model.dtype (float32 is faster on CPUs without BF16)")
    parser.add_argument("--workdir", type=Path, help="keep inputs, outputs and logs here")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per night")
    args = parser.parse_args()
    with working_directory(args.workdir, prefix="pressroom-incremental-") as workdir:
        first, second, edited, added = night_tables(args.rows)
        spec_path = spec(workdir, model=args.model, max_tokens=args.max_tokens, dtype=args.dtype)
        print(
            f"input: night 1 {first.num_rows} rows; night 2 edits {edited} ({edited / args.rows:.0%}) and adds "
            f"{added} ({added / args.rows:.0%}); {args.max_tokens} tokens per row; model {args.model}",
            flush=True,
        )
        pq.write_table(first, workdir / "input.parquet")
        one = night(spec_path, log=workdir / "night-1.log", timeout=args.timeout)
        print(describe("night 1", one), flush=True)
        pq.write_table(second, workdir / "input.parquet")
        two = night(spec_path, log=workdir / "night-2.log", timeout=args.timeout)
        print(describe("night 2", two), flush=True)
        expected = edited + added
        if two["summary"]["totals"]["rows_generated"] != expected:
            raise SystemExit(
                f"night 2 generated {two['summary']['totals']['rows_generated']} rows, expected {expected}"
            )
        e2e = (two["rows"] / two["wall"]) / (one["rows"] / one["wall"])
        print(f"end to end (process wall, start-up included): night 2 / night 1 rows/s = {e2e:.2f}")
        print(
            f"steady window: night 2 / night 1 rows/s = "
            f"{(two['rows'] / two['steady']) / (one['rows'] / one['steady']):.2f} (ideal "
            f"{two['rows'] / expected:.0f} = night 2 rows / changed rows)"
        )
        print(f"ratio={(two['rows'] / two['steady']) / (one['rows'] / one['steady']):.3f}")


if __name__ == "__main__":
    main()
