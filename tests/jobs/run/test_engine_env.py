"""The generation actor's environment, as Ray applies it: the engine's thread count and niceness 0
(Ray starts workers at niceness 15, where the engine would yield its cores to Ray's processes)."""

from __future__ import annotations

import os

import pytest

from jobs.run.stages import GenerateStage, engine_env
from schemas.spec import ResourcesSpec
from workers.actor import GenerateConfig
from workers.engines import EngineConfig

pytestmark = pytest.mark.timeout(120)


def _stage(**resources) -> GenerateStage:
    config = GenerateConfig(engine="vllm", engine_config=EngineConfig(model_path="/m", model_name="m"))
    return GenerateStage(config=config, resources=ResourcesSpec(**resources))


def test_engine_threads_follow_the_spec_then_the_cores_per_replica(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert engine_env(_stage(threads_per_replica=3).engine_threads())["OMP_NUM_THREADS"] == "3"
    assert _stage(replicas=(1, 2)).engine_threads() == 4  # 8 cores, at most 2 replicas
    assert _stage(replicas=3).engine_threads() == 2  # 8 // 3
    assert _stage(gpus_per_replica=1).engine_threads() == 1


def test_ray_starts_an_actor_with_the_engine_env_at_niceness_0(ray_session):
    import ray

    @ray.remote(num_cpus=0)
    class Probe:
        def seen(self):
            return os.nice(0), os.environ.get("OMP_NUM_THREADS")

    env = engine_env(_stage(threads_per_replica=2).engine_threads())
    plain = Probe.remote()
    engine = Probe.options(runtime_env={"env_vars": env}).remote()
    assert ray.get(plain.seen.remote())[0] == 15  # Ray's default for workers
    assert ray.get(engine.seen.remote()) == (0, "2")
