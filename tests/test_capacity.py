"""`pressroom plan`: replicas and GPUs for a deadline, from earlier manifests' measured
throughput or from a calibration run, on the simulated engine (real tokenizer, fixed rate)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jobs.errors import SpecError
from jobs.run import parse_duration, run_job, size_capacity
from jobs.run.capacity import Startup, _fewest_replicas
from jobs.spec import load_spec
from schemas.manifest import startup_seconds
from tests.builders import write_spec, write_table


def spec_for(tmp_path, model, rows: int, name: str = "job.yaml"):
    table = write_table(
        tmp_path / f"in-{rows}.parquet", [{"id": f"r{i:05d}", "title": f"Story {i}"} for i in range(rows)]
    )
    return write_spec(
        tmp_path / name,
        {
            "name": "planned",
            "input": {"uri": str(table), "id_column": "id", "columns": ["title"], "rows_per_shard": 8},
            "task": {"kind": "custom", "prompt": "Write about {{ title }}"},
            "model": {"engine": "simulated", "source": str(model), "engine_args": {"tokens_per_second": 400}},
            "sampling": {"temperature": 0.0, "max_tokens": 16},
            "output": {"uri": str(tmp_path / "out")},
            "resources": {"replicas": 1, "batch_size": 8},
        },
    )


def test_durations():
    assert [parse_duration(t) for t in ("6h", "90m", "1h30m", "45s", "1d")] == [21600, 5400, 5400, 45, 86400]
    with pytest.raises(SpecError, match="6 hours"):
        parse_duration("6 hours")


def test_startup_by_replica_count():
    runs = Startup(((1, 10.0), (1, 12.0), (4, 20.0)))
    assert runs.seconds(1)[0] == 11.0 and "measured with 1 replica" in runs.seconds(1)[1]  # median of that count
    seconds, basis = runs.seconds(8)  # a line through (1, 11) and (4, 20): 3 s per replica
    assert seconds == pytest.approx(32.0) and "+3.00 s per replica" in basis
    assert Startup(((1, 20.0), (4, 14.0))).seconds(8)[0] == pytest.approx(17.0)  # never falls: the mean
    seconds, basis = Startup(((2, 9.0),)).seconds(6)
    assert seconds == 9.0 and "measured with 2 replica(s) only" in basis


def test_fewest_replicas_on_paper():
    # 10,000 tokens at 10 tokens/s per replica after 20 s of start-up: 5 replicas take 20 + 200 s
    flat = Startup(((1, 20.0),))
    assert _fewest_replicas(10_000, 10.0, flat, 220.0) == 5
    assert _fewest_replicas(10_000, 10.0, flat, 219.0) == 6  # 20 + 166.7 s
    assert _fewest_replicas(0, 10.0, flat, 30.0) == 1
    with pytest.raises(SpecError, match="shorter than start-up"):
        _fewest_replicas(10_000, 10.0, flat, 20.0)
    # start-up growing 20 s per replica: 20n + 1000/n is lowest at n = 7 (282.9 s); a 250 s
    # deadline fits no count, so the plan takes the closest
    growing = Startup(((1, 20.0), (2, 40.0)))
    assert _fewest_replicas(10_000, 10.0, growing, 250.0) == 7
    assert _fewest_replicas(10_000, 10.0, growing, 300.0) == 5  # 100 + 200 s


def test_plan_from_earlier_runs_and_from_a_calibration(tiny_model, tmp_path, ray_session):
    small = load_spec(spec_for(tmp_path, tiny_model, 48))
    with pytest.raises(SpecError, match="--calibrate ROWS"):
        size_capacity(small, deadline_seconds=3600)
    night = run_job(small, run_id="night-1").manifest
    rate = night.totals.output_tokens_generated / night.timings["generate"] / night.workers.actors

    big_path = spec_for(tmp_path, tiny_model, 4800, name="big.yaml")  # same job, 100x the rows
    big = load_spec(big_path)
    deadline = 600.0
    plan = size_capacity(big, deadline_seconds=deadline)
    startup = startup_seconds(night.timings)
    tokens = round(night.totals.output_tokens / night.totals.rows_in * 4800)
    assert plan.output_tokens == tokens and plan.rows_to_generate == 4800
    assert plan.replica_tokens_per_second == pytest.approx(rate, rel=1e-3)
    assert plan.gpus == 0 and plan.fits and plan.predicted_seconds <= deadline
    # the fewest that fit: one replica less would not (start-up measured with one replica only)
    assert plan.replicas == 1 or startup + tokens / ((plan.replicas - 1) * rate) > deadline
    assert any("1 earlier run(s) of this model" in line for line in plan.assumptions)

    calibrated = size_capacity(big, deadline_seconds=deadline, calibrate_rows=40, replicas=2)
    # the engine's configured rate, measured: at most 400 x 0.32 / (0.32 + 0.05) (batches of 8 x 16
    # tokens, 0.05 s per batch) = 346; a loaded machine loses a little more
    assert 0.7 * 400 < calibrated.replica_tokens_per_second <= 400
    assert calibrated.replicas == 2 and any("calibration run of 40 rows" in a for a in calibrated.assumptions)

    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "plan", str(big_path), "--deadline", "20s", "--replicas", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    answer = json.loads(done.stdout)
    assert done.returncode == 1 and not answer["fits"] and answer["predicted_seconds"] > 20
