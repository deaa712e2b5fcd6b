"""Scale-out on one machine: a multi-node Ray cluster with logical GPUs, the simulated engine
(deterministic text at a fixed rate per replica, the real model's tokenizer), replicas spread
across nodes, an autoscaling pool, tensor-parallel placement, a node lost without grace, and an
autoscaler that adds GPU nodes for a pending pool."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from schemas.spec import JobSpec
from tests.benchmark_scripts import last_ratio, run_script
from tests.builders import write_spec, write_table
from tests.local_cluster import autoscaling_head, gpu_cluster

pytestmark = pytest.mark.serial  # the autoscaler and placement waits miss their deadlines beside other tests

JOB = "scale"


def scale_spec(
    tmp_path: Path, model: Path, *, rows: int, resources: dict, name: str = "job.yaml", rate: float = 200
) -> Path:
    table = write_table(
        tmp_path / f"in-{rows}.parquet", [{"id": f"r{i:05d}", "title": f"Story {i}"} for i in range(rows)]
    )
    return write_spec(
        tmp_path / name,
        {
            "name": JOB,
            "input": {"uri": str(table), "id_column": "id", "columns": ["title"], "rows_per_shard": 8},
            "task": {"kind": "custom", "prompt": "Write about {{ title }}"},
            "model": {"engine": "simulated", "source": str(model), "engine_args": {"tokens_per_second": rate}},
            "sampling": {"temperature": 0.0, "max_tokens": 16},
            "output": {"uri": str(tmp_path / "out")},
            "resources": {"batch_size": 8, **resources},
        },
    )


def run_cli(spec: Path, address: str, run_id: str, *, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "run", str(spec), "--address", address, "--run-id", run_id, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), "HF_HUB_OFFLINE": "1"},
    )


def finished(process: subprocess.Popen, *, timeout: float = 240) -> dict:
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stderr[-4000:]
    return json.loads(stdout)


def manifest_and_ids(summary: dict) -> tuple[dict, list[str]]:
    manifest = json.loads(Path(summary["manifest_uri"]).read_text())
    run_dir = Path(summary["manifest_uri"]).parent
    ids = []
    for entry in manifest["files"]:
        ids += pq.read_table(run_dir / entry["path"], columns=["id"]).column("id").to_pylist()
    return manifest, ids


@pytest.fixture(scope="module")
def cluster():
    with gpu_cluster(workers=3, cpus=2) as cluster:
        yield cluster


def test_replicas_spread_over_gpu_nodes_and_the_pool_grows_to_its_max(cluster, tiny_model, tmp_path):
    # ~64 s of work for one replica: the backlog outlasts the other two replicas' start on a busy machine.
    spec = scale_spec(tmp_path, tiny_model, rows=240, rate=60, resources={"replicas": [1, 3], "gpus_per_replica": 1})
    manifest, ids = manifest_and_ids(finished(run_cli(spec, cluster.address, "grow")))
    assert sorted(ids) == [f"r{i:05d}" for i in range(240)]
    assert manifest["workers"]["actors"] == 3  # grew from 1 to 3 under the backlog
    assert len(manifest["workers"]["nodes"]) == 3  # one GPU per node: one replica on each
    assert sum(manifest["workers"]["nodes"].values()) == 240


def test_simulated_scaling_smoke(cluster, tiny_model):
    # The benchmark at its smallest (issues 14, 37), on this module's cluster: one fewer to start.
    # N = 1 only: one run serves both tables (weak N = 1 is the strong job); the sizes for N > 1 and
    # the medians of repeats are checked below without a cluster.
    lines = run_script(
        "simulated_scaling.py",
        "--replicas",
        "1",
        "--seconds",
        "4",
        "--repeats",
        "1",
        "--model",
        str(tiny_model),
        "--address",
        cluster.address,
        timeout=600,
    )
    ratio = last_ratio(lines)
    # 4 s x 200 tokens/s / 32 tokens a row = 25 rows, rounded up to whole batches of 16: 32.
    assert lines[0] == (
        "share: 32 rows x 32 tokens per replica at R = 200 tokens/s per replica (weak: N x 32 rows; "
        f"strong: 32 rows); 1 run(s) per N; cluster: {cluster.address}"
    )
    assert lines[1] == "weak scaling: 32 rows per replica, N x 32 rows in all"
    assert lines[4] == "strong scaling: one job of 32 rows"
    assert lines[7] == "host CPU in each weak-scaling generation window (its last run), cores by process kind:"
    assert len(lines) == 10
    # N, rows, start-up, window, tokens, measured, ideal, ratio, vs N=1, nodes, each run's ratio.
    weak_row, strong_row = lines[3].split(), lines[6].split()
    assert weak_row == strong_row  # the same run
    assert [weak_row[i] for i in (0, 1, 4, 6, 8, 9)] == ["1", "32", "1024", "200.0", "1.000", "1"]
    assert float(weak_row[7]) == float(weak_row[10]) == ratio <= 1  # one run: its ratio is the median
    assert abs(float(weak_row[5]) - 200 * ratio) < 0.2
    assert re.fullmatch(r"  1  \d+\.\d\d of \d+ cores busy over \d+ s: .+", lines[8]), lines[8]


def test_simulated_scaling_sizes_the_job_per_replica():
    from benchmarks.simulated_scaling import share_rows

    # 120 s x 200 tokens/s / 32 = 750 rows, rounded up to a multiple of 16 x 16 = 256: 768 per replica,
    # so weak N = 16 runs 16 x 768 = 12,288 rows.
    assert share_rows(seconds=120, largest=16) == 768
    assert share_rows(seconds=120, largest=1) == 752
    assert share_rows(seconds=4, largest=2) == 32


def test_simulated_scaling_tables_show_the_median_of_the_runs():
    from benchmarks.simulated_scaling import Measured, table

    def run(replicas: int, window: float) -> Measured:
        return Measured(
            replicas=replicas,
            rows=replicas * 100,
            startup=10.0,
            window=window,
            tokens=replicas * 3200,
            nodes=1,
            cpu=None,
        )

    # N = 1: 3200 tokens in 20 s and in 16 s: 160 and 200 tok/s of an ideal 200, ratios 0.8 and 1.0.
    # N = 2: 6400 tokens in 20 s twice: 320 of 400 tok/s, 0.8; against N = 1's median 0.9: 0.889.
    lines = table("t", {1: [run(1, 20.0), run(1, 16.0)], 2: [run(2, 20.0), run(2, 20.0)]})
    assert lines[2].split() == [
        "1",
        "100",
        "10.0",
        "18.0",
        "3200",
        "180.0",
        "200.0",
        "0.900",
        "1.000",
        "1",
        "0.800",
        "1.000",
    ]
    assert lines[3].split() == [
        "2",
        "200",
        "10.0",
        "20.0",
        "6400",
        "320.0",
        "400.0",
        "0.800",
        "0.889",
        "1",
        "0.800",
        "0.800",
    ]


def test_a_tensor_parallel_replica_gets_its_gpus_on_one_node(cluster, tiny_model, tmp_path):
    wide = cluster.add_node(num_cpus=2, num_gpus=2)
    cluster.wait_for_nodes()
    try:
        spec = scale_spec(
            tmp_path, tiny_model, rows=40, resources={"replicas": 1, "gpus_per_replica": 2, "tensor_parallel_size": 2}
        )
        manifest, ids = manifest_and_ids(finished(run_cli(spec, cluster.address, "tp")))
    finally:
        cluster.remove_node(wide)
    assert sorted(ids) == [f"r{i:05d}" for i in range(40)]
    # The simulated engine refuses to load outside a STRICT_PACK group of 2 GPUs on one node (as
    # vLLM's Ray executor needs): the one node with two GPUs is where it ran.
    assert manifest["workers"]["nodes"] == {wide.node_id: 40}


def test_a_node_lost_without_grace_mid_job_loses_and_duplicates_nothing(cluster, tiny_model, tmp_path):
    spare = cluster.add_node(num_cpus=2, num_gpus=1)  # where the lost node's actor restarts
    cluster.wait_for_nodes()
    spec = scale_spec(tmp_path, tiny_model, rows=450, resources={"replicas": 3, "gpus_per_replica": 1})
    began = time.monotonic()
    process = run_cli(spec, cluster.address, "loss")
    shards = tmp_path / "out" / JOB / "runs" / "loss" / "shards"
    victim = None
    while victim is None:
        assert process.poll() is None and time.monotonic() - began < 120, "the job ended before a node was lost"
        records = [json.loads(p.read_text()) for p in shards.glob("*.json")] if shards.exists() else []
        used = {placement["node"] for r in records for placement in r["work"]["placements"]}
        victim = next((n for n in cluster.worker_nodes if n.node_id in used and n is not spare), None)
        time.sleep(0.2)
    lost_after = len(records)
    cluster.remove_node(victim, allow_graceful=False)
    summary = finished(process)
    elapsed = time.monotonic() - began
    manifest, ids = manifest_and_ids(summary)
    assert sorted(ids) == [f"r{i:05d}" for i in range(450)]  # every row exactly once
    assert lost_after <= 28  # the node went while more than half of the 57 shards were still to come
    assert manifest["workers"]["actor_restarts"] >= 1 and victim.node_id in manifest["workers"]["nodes"]
    assert spare.node_id in manifest["workers"]["nodes"]  # the restarted actor ran there
    assert elapsed < 120, f"took {elapsed:.0f} s"


def test_an_autoscaling_gpu_pool_makes_the_autoscaler_add_gpu_nodes(tiny_model, tmp_path):
    with autoscaling_head(max_gpu_nodes=2) as (gcs, env):
        # ~26 s of work for one replica: the backlog outlasts a node's start on a busy machine.
        spec = scale_spec(tmp_path, tiny_model, rows=320, resources={"replicas": [1, 2], "gpus_per_replica": 1})
        manifest, ids = manifest_and_ids(finished(run_cli(spec, gcs, "auto", env=env)))
    assert sorted(ids) == [f"r{i:05d}" for i in range(320)]
    assert manifest["workers"]["actors"] == 2 and len(manifest["workers"]["nodes"]) == 2  # both added nodes


def test_a_pool_that_would_hold_every_cpu_is_refused_before_any_engine_starts(tiny_model, tmp_path, ray_session):
    import ray

    from jobs.errors import InputError
    from jobs.run import run_job
    from jobs.spec import load_spec

    cpus = int(ray.cluster_resources()["CPU"])
    spec = load_spec(scale_spec(tmp_path, tiny_model, rows=16, resources={"replicas": cpus}))
    with pytest.raises(InputError, match=rf"{cpus} replica\(s\) x 1 CPU hold {cpus} of the cluster's {cpus} CPUs"):
        run_job(spec, run_id="greedy")
    assert not list((tmp_path / "out" / JOB / "runs" / "greedy").glob("shards/*.json"))


def test_a_pool_the_cluster_cannot_place_fails_after_the_start_timeout(tiny_model, tmp_path, ray_session, monkeypatch):
    from jobs.errors import JobError
    from jobs.run import run_job
    from jobs.spec import load_spec

    monkeypatch.setenv("PRESSROOM_START_TIMEOUT_S", "3")  # a GPU replica on a cluster with no GPU, no autoscaler
    spec = load_spec(scale_spec(tmp_path, tiny_model, rows=16, resources={"replicas": 1, "gpus_per_replica": 1}))
    with pytest.raises(JobError, match=r"1 replica\(s\) did not all start within 3 s .* 1 GPU\(s\)"):
        run_job(spec, run_id="no-gpu")
    assert not (tmp_path / "out" / JOB / "runs" / "no-gpu" / "_manifest.json").exists()


@pytest.mark.parametrize(
    ("resources", "engine_args", "engine", "message"),
    [
        ({"tensor_parallel_size": 2, "gpus_per_replica": 1}, {}, "vllm", "needs gpus_per_replica 2"),
        ({"tensor_parallel_size": 2, "gpus_per_replica": 2}, {"tensor_parallel_size": 4}, "vllm", "conflicts with"),
        ({"tensor_parallel_size": 2, "gpus_per_replica": 2}, {}, "hf", "needs model.engine vllm"),
    ],
)
def test_placement_specs_that_cannot_work_are_spec_errors(resources, engine_args, engine, message):
    with pytest.raises(ValidationError, match=message):
        JobSpec.model_validate(
            {
                "name": "x",
                "input": {"uri": "/in.parquet", "id_column": "id"},
                "task": {"kind": "summary"},
                "model": {"engine": engine, "engine_args": engine_args},
                "output": {"uri": "/out"},
                "resources": resources,
            }
        )
