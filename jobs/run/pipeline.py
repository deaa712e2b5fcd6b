"""The Ray Data graph: read units -> read + render (CPU tasks) -> generate (actor pool) -> driver.

This is the only module that calls `ray` or `ray.data`. Blocks carry `_shard` and `_row` so the
driver can reassemble each shard's rows, in input order, into its own deterministic file.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pyarrow as pa

from jobs.errors import JobError
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
# How long the pool's minimum replicas may take to start (GPU nodes to come up, engines to load)
# before the run fails saying so, instead of waiting on a cluster that cannot place them.
START_TIMEOUT_ENV = "PRESSROOM_START_TIMEOUT_S"
START_TIMEOUT_S = 3600
# A private local Ray (no --address) exports Prometheus metrics on this port when it is set; a
# cluster's nodes export them on `ray start --metrics-export-port`.
METRICS_PORT_ENV = "PRESSROOM_METRICS_PORT"
METRICS_REPORT_MS = 1000
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
    private = {}
    if address == "local" and os.environ.get(METRICS_PORT_ENV):  # a private Ray serves Prometheus here
        private = {
            "_metrics_export_port": int(os.environ[METRICS_PORT_ENV]),
            "_system_config": {"metrics_report_interval_ms": METRICS_REPORT_MS},
        }
    ray.init(
        address=address,
        runtime_env={"env_vars": env},
        log_to_driver=verbose,
        logging_level=logging.INFO if verbose else logging.ERROR,
        include_dashboard=False,
        **private,
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
    """Shut down the Ray this process started; with metrics exported, first wait for the last
    report so a scrape sees the run's final counts."""
    import time

    import ray

    if os.environ.get(METRICS_PORT_ENV):
        time.sleep(METRICS_REPORT_MS * 2.5 / 1000)
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


def actor_resources(config: StageConfig) -> dict:
    """Ray resources of one generation actor. One GPU or less: asked of the actor itself. A
    tensor-parallel replica: a placement group per replica, STRICT_PACK so its GPUs share a node,
    which the actor and the engine's rank workers schedule into (the actor itself holds no GPU)."""
    if config.tensor_parallel_size > 1:
        return {
            "num_cpus": config.cpus_per_replica,
            "ray_remote_args_fn": partial(
                replica_placement, config.tensor_parallel_size, config.cpus_per_replica, config.accelerator_type
            ),
        }
    resources: dict = {"num_cpus": config.cpus_per_replica, "num_gpus": config.gpus_per_replica or None}
    if config.accelerator_type:
        resources["accelerator_type"] = config.accelerator_type
    return resources


def replica_placement(gpus: int, cpus: float, accelerator_type: str | None) -> dict:
    """A new placement group for one tensor-parallel replica (called once per actor Ray Data starts)."""
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pin = {f"accelerator_type:{accelerator_type}": 0.001} if accelerator_type else {}
    bundles = [{"GPU": 1, "CPU": cpus, **pin}] + [{"GPU": 1, **pin} for _ in range(gpus - 1)]
    group = placement_group(bundles, strategy="STRICT_PACK", name="")
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(group, placement_group_capture_child_tasks=True)}


def check_cpu_room(config: StageConfig) -> None:
    """Refuse a pool whose actors would hold every CPU: Ray Data then backpressures the reads
    forever (measured: two 1-CPU actors on two CPUs). A cluster that lacks the pool's GPUs is
    waiting for its autoscaler, which brings their CPUs too: not checked then."""
    import ray

    from workers.errors import InputError

    resources = ray.cluster_resources()
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    low = config.replicas[0]
    if config.gpus_per_replica and gpus < low * config.gpus_per_replica:
        return
    held = low * config.cpus_per_replica
    if held + READ_TASK_CPUS > cpus:
        raise InputError(
            f"resources: {low} replica(s) x {config.cpus_per_replica:g} CPU hold {held:g} of the cluster's {cpus:g} "
            f"CPUs, leaving less than the {READ_TASK_CPUS:g} a read/render/write task needs (Ray Data would "
            "backpressure the reads forever): lower replicas or cpus_per_replica, or add CPUs"
        )


def request_pool(config: StageConfig) -> bool:
    """For an autoscaling GPU pool, ask Ray's autoscaler for the pool's largest size: Ray Data
    grows a (min, max) pool only over GPUs that exist, so GPU nodes starting at zero would never
    come. Returns whether a request was made (withdraw it with `release_pool`)."""
    low, high = config.replicas
    if high == low or not config.gpus_per_replica:
        return False
    from ray.autoscaler.sdk import request_resources

    bundle = {"GPU": config.gpus_per_replica, "CPU": config.cpus_per_replica}
    request_resources(bundles=[bundle] * high)
    return True


def release_pool() -> None:
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=[])


def stream_outputs(
    shards: list[Shard], *, config: StageConfig, selected: dict[int, list[int]] | None = None
) -> Iterator[pa.Table]:
    """Run the graph over the given shards (only the `selected` rows of a shard named there);
    yield generated batches as they finish."""
    import ray.data

    _pace_for_pool(config)
    items = unit_items(shards, selected)
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.map_batches(
        read_and_render, batch_size=1, batch_format="pyarrow", fn_kwargs={"config": config}, num_cpus=READ_TASK_CPUS
    )
    # Ray Data merges a task's small outputs into one block, so a read unit's shards would reach
    # the actors (and their rows the driver) only when the whole unit is done: blocks of at most a
    # shard's rows keep shards landing one by one (progress, records, resume points).
    dataset = dataset.repartition(target_num_rows_per_block=config.rows_per_shard)
    with warnings.catch_warnings():
        # Ray 2.60 marks ray_remote_args_fn deprecated (removal planned for 2.64), but it is still
        # the one way to give each replica a placement group of its own (ray.data.llm uses it too).
        warnings.filterwarnings("ignore", message=".*ray_remote_args_fn.*")
        dataset = _generation_stage(dataset, config)
    check_cpu_room(config)
    requested = request_pool(config)
    try:
        yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")
    except ray.exceptions.GetTimeoutError as exc:  # Ray Data's wait for the pool's minimum replicas
        raise JobError(
            f"the pool's {config.replicas[0]} replica(s) did not all start within {start_timeout():g} s "
            f"(${START_TIMEOUT_ENV}): the cluster lacks the {config.gpus_per_replica:g} GPU(s) and "
            f"{config.cpus_per_replica:g} CPU(s) each asks and no autoscaler added them, or their engines are "
            "still loading"
        ) from exc
    finally:
        if requested:
            release_pool()


def start_timeout() -> float:
    return float(os.environ.get(START_TIMEOUT_ENV) or START_TIMEOUT_S)


def _pace_for_pool(config: StageConfig) -> None:
    """Ray Data settings (this driver's, for this run) that start every replica at once: generation
    waits until the pool's minimum replicas have loaded (Ray Data's default hands rows to whichever
    loaded first, and the rest start up to seconds later); a read task may run one wave of the pool
    ahead (default: 2 blocks, then it waits on the driver's next scheduling step); and reads are not
    held back to twice what the actors have queued (the object store budget still bounds them).
    The run-ahead is Ray Data 2.60's private `_max_num_blocks_in_streaming_gen_buffer`: the per-op
    remote arg cannot reach the repartition step, which takes none."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.wait_for_min_actors_s = start_timeout()
    context._max_num_blocks_in_streaming_gen_buffer = max(2, config.replicas[1] * CALLS_PER_ACTOR)
    context.downstream_capacity_backpressure_ratio = None


def _generation_stage(dataset, config: StageConfig):
    """The actor-pool stage that generates."""
    import ray.data

    from workers.actor import GenerationActor

    low, high = config.replicas
    return dataset.map_batches(
        GenerationActor,
        fn_constructor_kwargs={
            "engine_name": config.engine_name,
            "config": config.engine_config,
            "system": config.system,
            "job": config.job,
            "keep_prompts": config.store_prompts,
        },
        batch_size=config.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=low, max_size=high, max_concurrent_calls_per_actor=CALLS_PER_ACTOR),
        runtime_env={"env_vars": engine_env(engine_threads(config))},
        **actor_resources(config),
    )
