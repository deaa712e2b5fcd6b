"""Throughput of N simulated replicas on a multi-node local Ray cluster against N x R (issue 14).

    .venv/bin/python benchmarks/simulated_scaling.py                        # N = 1, 2, 4, 8, 16
    .venv/bin/python benchmarks/simulated_scaling.py --replicas 1 4 --seconds 10   # smoke
    .venv/bin/python benchmarks/simulated_scaling.py --address HOST:6379          # a cluster of yours

One fixed job (sized so that one replica needs `--seconds` of generation, 120 by default, in
batches and shards of 16 rows, rounded up to whole batches for every N) runs on a head plus 4
worker nodes of 4 logical GPUs each (or on the cluster `--address` names, a GPU per replica),
once per replica count N, through `pressroom run --address`. The simulated engine runs at its
documented default rate R per replica (tokens_per_second 200, batch_latency_s 0.05: not set
here). Measured over the generation window the manifest records (first row handed to an engine
-> last row written; start-up printed apart): generated tokens / window, against the ideal N x R.
The last line is `ratio=<worst measured/ideal over N>`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PROJECT_ROOT, QUIET_ENV, working_directory  # noqa: E402

RATE = 200.0  # the simulated engine's default tokens_per_second (workers/engines/simulated.py)
TOKENS_PER_ROW = 32
BATCH_ROWS = 16
NODES, GPUS_PER_NODE = 4, 4


def job_spec(workdir: Path, *, replicas: int, rows: int, model: str) -> Path:
    table = workdir / "in.parquet"
    if not table.exists():
        pq.write_table(pa.table({"id": [f"r{i:06d}" for i in range(rows)],
                                 "title": [f"Story {i} about the night" for i in range(rows)]}), table)
    spec = {
        "name": "scaling", "input": {"uri": str(table), "id_column": "id", "columns": ["title"],
                                     "rows_per_shard": BATCH_ROWS},
        "task": {"kind": "custom", "prompt": "Write about {{ title }}"},
        "model": {"engine": "simulated", "source": model},
        "sampling": {"temperature": 0.0, "max_tokens": TOKENS_PER_ROW},
        "output": {"uri": str(workdir / "out")},
        "resources": {"replicas": replicas, "gpus_per_replica": 1, "batch_size": BATCH_ROWS},
    }
    path = workdir / f"job-{replicas}.json"
    path.write_text(json.dumps(spec))
    return path


def run(spec: Path, address: str, run_id: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "run", str(spec), "--address", address, "--run-id", run_id, "--json"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=1800, env={**os.environ, **QUIET_ENV},
    )
    if done.returncode != 0:
        raise SystemExit(f"run {run_id} failed: {done.stderr[-3000:]}")
    return json.loads(Path(json.loads(done.stdout)["manifest_uri"]).read_text())


def cluster_gpus(address: str) -> float:
    """GPUs of the cluster at `address` (its autoscaler's nodes to come not counted)."""
    probe = "import ray; ray.init(address=%r, log_to_driver=False); print(ray.cluster_resources().get('GPU', 0))"
    done = subprocess.run([sys.executable, "-c", probe % address], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"cannot join the Ray cluster at {address}: {done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


@contextlib.contextmanager
def cluster_address(address: str | None) -> Iterator[str]:
    """The cluster given, else a local multi-node one started (and stopped) here."""
    if address:
        yield address
        return
    from tests.local_cluster import gpu_cluster

    with gpu_cluster(workers=NODES, cpus=GPUS_PER_NODE + 2, gpus=GPUS_PER_NODE) as cluster:
        yield cluster.address


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=120.0, help="generation time of one replica")
    parser.add_argument("--model", default="default", help="model source whose tokenizer the engine uses")
    parser.add_argument("--workdir", type=Path, help="keep inputs and outputs here (default: a temporary directory)")
    parser.add_argument("--address", help="run on this Ray cluster (default: start a local one of "
                        f"{NODES} nodes x {GPUS_PER_NODE} logical GPUs)")
    args = parser.parse_args()
    gpus = cluster_gpus(args.address) if args.address else NODES * GPUS_PER_NODE
    if max(args.replicas) > gpus:
        raise SystemExit(f"at most {gpus:g} replicas: the cluster has {gpus:g} GPUs, one per replica")

    # Whole batches for every N: rounded up to a multiple of (largest N x batch), so no replica is
    # left a batch short and the ratio measures the system, not the remainder of rows / N.
    wave = max(args.replicas) * BATCH_ROWS
    rows = math.ceil(args.seconds * RATE / TOKENS_PER_ROW / wave) * wave
    where = args.address or f"head + {NODES} nodes x {GPUS_PER_NODE} logical GPUs"
    print(f"job: {rows} rows x {TOKENS_PER_ROW} tokens at R = {RATE:g} tokens/s per replica; cluster: {where}",
          flush=True)
    print(f"{'N':>3} {'startup s':>10} {'window s':>9} {'tokens':>8} {'measured tok/s':>15} {'ideal tok/s':>12} "
          f"{'ratio':>6} {'nodes':>5}", flush=True)
    worst = None
    with working_directory(args.workdir, prefix="pressroom-scaling-") as workdir, \
            cluster_address(args.address) as address:
        for replicas in args.replicas:
            manifest = run(job_spec(workdir, replicas=replicas, rows=rows, model=args.model), address, f"n{replicas}")
            window = manifest["timings"]["generate"]
            tokens = manifest["totals"]["output_tokens_generated"]
            measured, ideal = tokens / window, replicas * RATE
            ratio = measured / ideal
            worst = ratio if worst is None else min(worst, ratio)
            print(f"{replicas:>3} {manifest['timings']['startup']:>10.1f} {window:>9.1f} {tokens:>8} "
                  f"{measured:>15.1f} {ideal:>12.1f} {ratio:>6.3f} {len(manifest['workers']['nodes']):>5}",
                  flush=True)
    print(f"ratio={worst:.3f}")


if __name__ == "__main__":
    main()
