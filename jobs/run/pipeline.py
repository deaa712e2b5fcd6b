"""The Ray Data graph: read units -> read + render (CPU tasks) -> generate (actor pool) -> driver.

This is the only module that calls `ray` or `ray.data`. Blocks carry `_shard` and `_row` so the
driver can reassemble each shard's rows, in input order, into its own deterministic file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from schemas.manifest import Shard
from workers.render import StageConfig, read_and_render, unit_items

# Non-secret AWS settings workers need (credentials reach local workers by inheritance, and
# cluster nodes by instance roles: never through runtime_env, which Ray stores and shows).
AWS_FORWARDED = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")
# Half a CPU per read task: next to an actor holding one of two cores, two units still read at once.
READ_TASK_CPUS = 0.5
# Two shards' tasks at once per actor: the next shard's batches enter the engine while the current
# shard's last batch finishes (within a task, the async actor overlaps batches).
CALLS_PER_ACTOR = 2
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "VLLM_CONFIGURE_LOGGING": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
}


def init_ray(*, verbose: bool, address: str | None = None) -> bool:
    """Join the cluster `address` or `$RAY_ADDRESS` names, else start a private local Ray (never a
    head someone else left running on the machine); nothing if Ray is already up in this process.
    True if this call connected (and so should shut down)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    # As a Ray job's driver, our runtime_env extends the job's (its env vars are already ours too).
    os.environ.setdefault("RAY_OVERRIDE_JOB_RUNTIME_ENV", "1")
    env = {} if verbose else dict(QUIET_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [_project_root(), os.environ.get("PYTHONPATH")] if p)
    env.update({k: os.environ[k] for k in AWS_FORWARDED if k in os.environ})
    ray.init(
        address=address,
        runtime_env={"env_vars": env},
        log_to_driver=verbose,
        logging_level=logging.INFO if verbose else logging.ERROR,
        include_dashboard=False,
    )
    _configure_data_context(verbose=verbose)
    return True


def _project_root() -> str:
    """The checkout holding `jobs/`, `workers/` and `schemas/` (Ray workers import from it)."""
    return str(Path(__file__).resolve().parents[2])


def _configure_data_context(*, verbose: bool) -> None:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = verbose
    context.print_on_execution_start = verbose
    if not verbose:
        logging.getLogger("ray.data").setLevel(logging.ERROR)


def shutdown_ray() -> None:
    import ray

    ray.shutdown()


def engine_threads(config: StageConfig) -> int:
    """Threads each engine may use: the spec's, else the node's cores shared by the replicas."""
    if config.threads_per_replica:
        return config.threads_per_replica
    if config.gpus_per_replica:
        return 1
    return max(1, (os.cpu_count() or 1) // config.replicas[1])


def engine_env(threads: int) -> dict[str, str]:
    """The generation actor's environment: Ray pins OMP_NUM_THREADS to an actor's num_cpus (1), so
    a CPU engine would use one core; and Ray starts workers at niceness 15, so the engine would
    yield its cores to the driver and Ray's own processes. Read tasks stay at 15."""
    return {"OMP_NUM_THREADS": str(threads), "RAY_worker_niceness": "0"}


def stream_outputs(shards: list[Shard], *, config: StageConfig,
                   selected: dict[int, list[int]] | None = None) -> Iterator[pa.Table]:
    """Run the graph over the given shards (only the `selected` rows of a shard named there);
    yield generated batches as they finish."""
    import ray.data

    from workers.actor import GenerationActor

    items = unit_items(shards, selected)
    low, high = config.replicas
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.map_batches(
        read_and_render, batch_size=1, batch_format="pyarrow", fn_kwargs={"config": config}, num_cpus=READ_TASK_CPUS
    )
    # Ray Data merges a task's small outputs into one block, so a read unit's shards would reach
    # the actors (and their rows the driver) only when the whole unit is done: blocks of at most a
    # shard's rows keep shards landing one by one (progress, records, resume points).
    dataset = dataset.repartition(target_num_rows_per_block=config.rows_per_shard)
    dataset = dataset.map_batches(
        GenerationActor,
        fn_constructor_kwargs={
            "engine_name": config.engine_name,
            "config": config.engine_config,
            "system": config.system,
        },
        batch_size=config.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=low, max_size=high, max_concurrent_calls_per_actor=CALLS_PER_ACTOR),
        num_cpus=1,
        num_gpus=config.gpus_per_replica or None,
        runtime_env={"env_vars": engine_env(engine_threads(config))},
    )
    yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")
