"""Weak and strong scaling of N simulated replicas on a multi-node local Ray cluster (issues 14, 37).

    .venv/bin/python benchmarks/simulated_scaling.py                        # N = 1, 2, 4, 8, 16; 2 runs each
    .venv/bin/python benchmarks/simulated_scaling.py --replicas 1 2 --seconds 10 --repeats 1   # short
    .venv/bin/python benchmarks/simulated_scaling.py --address HOST:6379          # a cluster of yours

One replica's share is S rows: `--seconds` of generation for one replica (120 by default), in
batches and shards of 16 rows, rounded up to whole batches for every N. Weak scaling, the way
capacity is planned for nightly jobs hours long: N replicas get a job of N x S rows, so each
replica works as long as N = 1 does. Strong scaling (the second table): one fixed job of S rows
whatever N, so at large N the window is seconds long and fixed costs per run weigh in. N = 1 is
the same job in both tables and runs once. Each N runs `--repeats` times (2 by default: the
machine is shared), interleaved; the tables show medians and each run's ratio.

The runs go to a head plus 4 worker nodes of 4 logical GPUs each (or to the cluster `--address`
names, a GPU per replica) through `pressroom run --address`. The simulated engine runs at its
documented default rate R per replica (tokens_per_second 200, batch_latency_s 0.05: a ceiling of
0.981 with 16-row batches; not set here). Measured over the generation window the manifest
records (first row handed to an engine -> last row written; start-up printed apart): generated
tokens / window, against the ideal N x R. Where this host's CPU went in each weak window (machine
busy, and CPU by process kind) follows the tables. The last line is `ratio=<worst weak-scaling
measured/ideal over N>`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PROJECT_ROOT, QUIET_ENV, working_directory
from benchmarks.host_cpu import CpuSampler, CpuUse

RATE = 200.0  # the simulated engine's default tokens_per_second (workers/engines/simulated.py)
TOKENS_PER_ROW = 32
BATCH_ROWS = 16
NODES, GPUS_PER_NODE = 4, 4
WEAK, STRONG = "weak", "strong"


@dataclass(frozen=True)
class Measured:
    """One run: what its manifest says, and this host's CPU in its generation window."""

    replicas: int
    rows: int
    startup: float
    window: float
    tokens: int
    nodes: int
    cpu: CpuUse | None

    @property
    def ratio(self) -> float:
        return self.tokens / self.window / (self.replicas * RATE)


def share_rows(*, seconds: float, largest: int) -> int:
    """Rows one replica generates in `seconds` at R, rounded up to whole batches for every N."""
    # A multiple of (largest N x batch): no replica of the strong job is left a batch short, so the
    # ratio measures the system, not the remainder of rows / N.
    wave = largest * BATCH_ROWS
    return math.ceil(seconds * RATE / TOKENS_PER_ROW / wave) * wave


def job_spec(workdir: Path, *, replicas: int, rows: int, model: str) -> Path:
    table = workdir / f"in-{rows}.parquet"
    if not table.exists():
        pq.write_table(
            pa.table(
                {"id": [f"r{i:06d}" for i in range(rows)], "title": [f"Story {i} about the night" for i in range(rows)]}
            ),
            table,
        )
    spec = {
        "name": "scaling",
        "input": {"uri": str(table), "id_column": "id", "columns": ["title"], "rows_per_shard": BATCH_ROWS},
        "task": {"kind": "custom", "prompt": "Write about {{ title }}"},
        "model": {"engine": "simulated", "source": model},
        "sampling": {"temperature": 0.0, "max_tokens": TOKENS_PER_ROW},
        "output": {"uri": str(workdir / "out")},
        "resources": {"replicas": replicas, "gpus_per_replica": 1, "batch_size": BATCH_ROWS},
    }
    path = workdir / f"job-{replicas}-{rows}.json"
    path.write_text(json.dumps(spec))
    return path


def run(spec: Path, address: str, run_id: str) -> tuple[dict, Path]:
    """The committed manifest of one `pressroom run`, and its run directory."""
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "run", str(spec), "--address", address, "--run-id", run_id, "--json"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=1800,
        env={**os.environ, **QUIET_ENV},
    )
    if done.returncode != 0:
        raise SystemExit(f"run {run_id} failed: {done.stderr[-3000:]}")
    manifest_path = Path(json.loads(done.stdout)["manifest_uri"])
    return json.loads(manifest_path.read_text()), manifest_path.parent


def measure(
    workdir: Path, *, address: str, replicas: int, rows: int, run_id: str, model: str, sampler: CpuSampler
) -> Measured:
    manifest, run_dir = run(job_spec(workdir, replicas=replicas, rows=rows, model=model), address, run_id)
    window = manifest["timings"]["generate"]
    # The window ends as the last shard record is written (wall clock): read the host's CPU there.
    end = max(path.stat().st_mtime for path in (run_dir / "shards").glob("*.json"))
    return Measured(
        replicas,
        rows,
        manifest["timings"]["startup"],
        window,
        manifest["totals"]["output_tokens_generated"],
        len(manifest["workers"]["nodes"]),
        sampler.use(start=end - window, end=end),
    )


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


def table(title: str, runs: dict[int, list[Measured]]) -> list[str]:
    """A scaling table: medians per N, each run's ratio, and the ratio against N x (N = 1's rate)."""
    header = (
        f"{'N':>3} {'rows':>6} {'startup s':>10} {'window s':>9} {'tokens':>8} {'measured tok/s':>15} "
        f"{'ideal tok/s':>12} {'ratio':>6} {'vs N=1':>7} {'nodes':>5}  runs"
    )
    lines = [title, header]
    base = statistics.median(m.ratio for m in runs[1]) if 1 in runs else None
    for replicas, measured in runs.items():
        ratio = statistics.median(m.ratio for m in measured)
        versus = f"{ratio / base:>7.3f}" if base else f"{'-':>7}"
        lines.append(
            f"{replicas:>3} {measured[0].rows:>6} {statistics.median(m.startup for m in measured):>10.1f} "
            f"{statistics.median(m.window for m in measured):>9.1f} "
            f"{statistics.median(m.tokens for m in measured):>8.0f} {ratio * replicas * RATE:>15.1f} "
            f"{replicas * RATE:>12.1f} {ratio:>6.3f} {versus} {measured[-1].nodes:>5}  "
            + " ".join(f"{m.ratio:.3f}" for m in measured)
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=120.0, help="generation time of one replica's share")
    parser.add_argument("--repeats", type=int, default=2, help="runs per N and table (the median is shown)")
    parser.add_argument("--model", default="default", help="model source whose tokenizer the engine uses")
    parser.add_argument("--workdir", type=Path, help="keep inputs and outputs here (default: a temporary directory)")
    parser.add_argument(
        "--address",
        help=f"run on this Ray cluster (default: start a local one of {NODES} nodes x {GPUS_PER_NODE} logical GPUs)",
    )
    args = parser.parse_args()
    counts = sorted(set(args.replicas))
    if args.repeats < 1 or counts[0] < 1:
        raise SystemExit("--repeats and every --replicas count must be at least 1")
    gpus = cluster_gpus(args.address) if args.address else NODES * GPUS_PER_NODE
    if counts[-1] > gpus:
        raise SystemExit(f"at most {gpus:g} replicas: the cluster has {gpus:g} GPUs, one per replica")

    share = share_rows(seconds=args.seconds, largest=counts[-1])
    where = args.address or f"head + {NODES} nodes x {GPUS_PER_NODE} logical GPUs"
    print(
        f"share: {share} rows x {TOKENS_PER_ROW} tokens per replica at R = {RATE:g} tokens/s per replica "
        f"(weak: N x {share} rows; strong: {share} rows); {args.repeats} run(s) per N; cluster: {where}",
        flush=True,
    )
    runs: dict[str, dict[int, list[Measured]]] = {WEAK: {n: [] for n in counts}, STRONG: {n: [] for n in counts}}
    with (
        working_directory(args.workdir, prefix="pressroom-scaling-") as workdir,
        cluster_address(args.address) as address,
        CpuSampler() as sampler,
    ):
        for repeat in range(1, args.repeats + 1):
            for replicas in counts:
                for kind, rows in ((WEAK, replicas * share), (STRONG, share)):
                    if kind == STRONG and replicas == 1:  # the same job as weak N = 1
                        runs[STRONG][1].append(runs[WEAK][1][-1])
                        continue
                    measured = measure(
                        workdir,
                        address=address,
                        replicas=replicas,
                        rows=rows,
                        model=args.model,
                        run_id=f"{kind}-n{replicas}-{repeat}",
                        sampler=sampler,
                    )
                    runs[kind][replicas].append(measured)
                    print(
                        f"  {kind} N={replicas} run {repeat}: ratio {measured.ratio:.3f}, window "
                        f"{measured.window:.1f} s, start-up {measured.startup:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
    print("\n".join(table(f"weak scaling: {share} rows per replica, N x {share} rows in all", runs[WEAK])))
    print("\n".join(table(f"strong scaling: one job of {share} rows", runs[STRONG])))
    print("host CPU in each weak-scaling generation window (its last run), cores by process kind:")
    for replicas, measured in runs[WEAK].items():
        cpu = measured[-1].cpu
        print(f"{replicas:>3}  " + (cpu.line() if cpu else "window under two samples: not measured"))
    worst = min(statistics.median(m.ratio for m in measured) for measured in runs[WEAK].values())
    print(f"ratio={worst:.3f}")


if __name__ == "__main__":
    main()
