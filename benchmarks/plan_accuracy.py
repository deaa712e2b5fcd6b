"""`pressroom plan --calibrate` against a real run (issue 15), on the simulated engine.

    .venv/bin/python benchmarks/plan_accuracy.py

On a head plus 2 worker nodes of 4 logical GPUs: `pressroom plan` calibrates on the spec's first
`--calibrate-rows` rows with one replica, and predicts the whole input (`--rows`, 40 times the
sample, as a night is to its sample) on `--replicas`; then the whole input runs on that many
replicas. Printed: the plan's start-up assumption, and predicted against measured for the
generation window and for the run as the plan counts it (start-up + window). The last line is
`ratio=R`, measured / predicted run time (target: within 15%, 0.85-1.15).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PROJECT_ROOT, QUIET_ENV, working_directory
from schemas.manifest import startup_seconds


def spec(workdir: Path, *, rows: int, replicas: int, model: str, name: str) -> Path:
    table = workdir / "in.parquet"
    if not table.exists():
        pq.write_table(
            pa.table(
                {
                    "id": [f"r{i:06d}" for i in range(rows)],
                    "title": [f"Story {i} about the harbour" for i in range(rows)],
                }
            ),
            table,
        )
    path = workdir / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "name": "planned",
                "input": {"uri": str(table), "id_column": "id", "columns": ["title"], "rows_per_shard": 8},
                "task": {"kind": "custom", "prompt": "Write about {{ title }}"},
                "model": {"engine": "simulated", "source": model},
                "sampling": {"temperature": 0.0, "max_tokens": 32},
                "output": {"uri": str(workdir / "out")},
                "resources": {"replicas": replicas, "gpus_per_replica": 1, "batch_size": 8},
            }
        )
    )
    return path


def cli(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args, "--json"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=1800,
        env={**os.environ, **QUIET_ENV},
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"pressroom {args[0]} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4800)
    parser.add_argument("--calibrate-rows", type=int, default=120)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--model", default="default")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    from tests.local_cluster import gpu_cluster

    with (
        working_directory(args.workdir, prefix="pressroom-plan-") as workdir,
        gpu_cluster(workers=2, cpus=6, gpus=4) as cluster,
    ):
        calibrating = spec(workdir, rows=args.rows, replicas=1, model=args.model, name="one")
        plan = cli(
            "plan",
            str(calibrating),
            "--deadline",
            "6h",
            "--calibrate",
            str(args.calibrate_rows),
            "--replicas",
            str(args.replicas),
            "--address",
            cluster.address,
        )
        print(
            f"calibrated on {args.calibrate_rows} rows x 1 replica: {plan['replica_tokens_per_second']} tokens/s "
            f"per replica, start-up {plan['startup_seconds']} s"
        )
        print(next(line for line in plan["assumptions"] if line.startswith("start-up")))
        full = spec(workdir, rows=args.rows, replicas=args.replicas, model=args.model, name="many")
        summary = cli("run", str(full), "--address", cluster.address, "--run-id", "measured")
        manifest = json.loads(Path(summary["manifest_uri"]).read_text())
    timings = manifest["timings"]
    measured_window = timings["generate"]
    measured = startup_seconds(timings) + measured_window
    predicted_window = plan["predicted_seconds"] - plan["startup_seconds"]
    print(f"{'':<28} {'predicted':>10} {'measured':>10}")
    print(f"{'output tokens':<28} {plan['output_tokens']:>10} {manifest['totals']['output_tokens']:>10}")
    print(f"{'generation window s':<28} {predicted_window:>10.1f} {measured_window:>10.1f}")
    print(f"{'start-up + window s':<28} {plan['predicted_seconds']:>10.1f} {measured:>10.1f}")
    print(f"rows {args.rows} on {args.replicas} replicas; window ratio {measured_window / predicted_window:.3f}")
    print(f"ratio={measured / plan['predicted_seconds']:.3f}")


if __name__ == "__main__":
    main()
