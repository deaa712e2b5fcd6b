"""A generation actor killed before or during its first batch: the pool replaces it, and every
row comes back exactly once. The kill is deterministic: a gated engine (tests/fault_engine.py)
holds the first actor at the chosen stage until the test has killed it."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.processes import command_line, new_tag, reap
from tests.test_faults import committed_rows, start_cli, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("stage", ["load", "generate"])
def test_an_actor_killed_before_or_during_its_first_batch_is_replaced(tiny_model, tmp_path, stage):
    rows = 40
    table = write_table(tmp_path / "in.parquet", article_rows(rows))
    spec = write_spec(
        tmp_path / "job.yaml",
        tiny_spec(
            model=tiny_model,
            input_uri=table,
            output_uri=tmp_path / "out",
            engine="hf",
            input={"rows_per_shard": 8},
            sampling={"max_tokens": 8},
            resources={"batch_size": 8},
        ),
    )
    gate = tmp_path / "gate"
    gate.mkdir()
    env = {
        "RAY_RUNTIME_ENV_HOOK": "tests.fault_engine.runtime_env_hook",
        "PRESSROOM_TEST_GATE": str(gate),
        "PRESSROOM_TEST_GATE_STAGE": stage,
    }
    tag = new_tag()
    driver = start_cli("run", str(spec), "--run-id", "night", "--json", tag=tag, env=env)
    try:
        assert wait_for(lambda: (gate / "claimed").exists() and (gate / "claimed").stat().st_size, timeout=300)
        held = json.loads((gate / "claimed").read_text())
        assert held["stage"] == stage and "GenerationActor" in command_line(held["pid"])
        if stage == "generate":
            assert held["rows"] > 0  # rows were in flight in the actor we kill
        run_dir = tmp_path / "out" / "tiny-summaries" / "runs" / "night"
        assert not list((run_dir / "shards").glob("*.json"))  # nothing finished before the kill
        os.kill(held["pid"], signal.SIGKILL)
        out, err = driver.communicate(timeout=400)
    finally:
        leftovers = reap(tag)
    assert leftovers == [], [command_line(p) for p in leftovers]
    assert driver.returncode == 0, err[-3000:]
    assert json.loads(out)["status"] == "succeeded"
    manifest, output = committed_rows(run_dir / "_manifest.json")
    assert output.column("id").to_pylist() == [f"r{i:04d}" for i in range(rows)]
    assert manifest["totals"]["rows_failed"] == 0 and manifest["totals"]["rows_generated"] == rows
