"""The generation actor's environment, as Ray applies it: the engine's thread count and niceness 0
(Ray starts workers at niceness 15, where the engine would yield its cores to Ray's processes)."""

from __future__ import annotations

import os

import pytest

from jobs.run.pipeline import engine_env, engine_threads
from workers.engines import EngineConfig
from workers.render import StageConfig

pytestmark = pytest.mark.timeout(120)


def _config(**resources) -> StageConfig:
    return StageConfig(
        read_columns=["id"],
        keep_columns=["id"],
        adapter_column=None,
        default_adapter=None,
        template="x",
        template_columns=[],
        system=None,
        engine_name="vllm",
        engine_config=EngineConfig(model_path="/m", model_name="m"),
        batch_size=8,
        replicas=resources.pop("replicas", (1, 1)),
        gpus_per_replica=resources.pop("gpus", 0),
        **resources,
    )


def test_engine_threads_follow_the_spec_then_the_cores_per_replica():
    assert engine_env(engine_threads(_config(threads_per_replica=3)))["OMP_NUM_THREADS"] == "3"
    assert engine_env(engine_threads(_config(replicas=(1, 2))))["OMP_NUM_THREADS"] == str(
        max(1, (os.cpu_count() or 1) // 2)
    )
    assert engine_env(engine_threads(_config(gpus=1)))["OMP_NUM_THREADS"] == "1"


def test_ray_starts_an_actor_with_the_engine_env_at_niceness_0(ray_session):
    import ray

    @ray.remote(num_cpus=0)
    class Probe:
        def seen(self):
            return os.nice(0), os.environ.get("OMP_NUM_THREADS")

    env = engine_env(engine_threads(_config(threads_per_replica=2)))
    plain = Probe.remote()
    engine = Probe.options(runtime_env={"env_vars": env}).remote()
    assert ray.get(plain.seen.remote())[0] == 15  # Ray's default for workers
    assert ray.get(engine.seen.remote()) == (0, "2")
