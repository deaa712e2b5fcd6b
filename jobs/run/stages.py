"""The run's Ray Data stages, in the manner of Ray's own `ray.llm` batch stages: each stage owns its
UDF (in the data plane), the UDF's typed configuration, and its `map_batches` arguments (tasks or
an actor pool, CPUs, GPUs, placement). `jobs.run.pipeline` applies them in order.

    RenderStage     read units -> one block per shard: kept columns, prompt, keys (CPU tasks)
    GenerateStage   blocks -> generated rows, by an actor pool of engines (the spec's resources)

A judge model or a remote engine is another GenerateStage with its own engine and resources.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import partial

from jobs.errors import JobError
from schemas.spec import EngineName, ResourcesSpec
from workers.actor import GenerateConfig
from workers.render import RenderConfig, read_and_render

# Half a CPU per read task: next to an actor holding one of two cores, two units still read at once.
READ_TASK_CPUS = 0.5
# Two shards' tasks at once per actor: the next shard's batches enter the engine while the current
# shard's last batch finishes (within a task, the async actor overlaps batches).
CALLS_PER_ACTOR = 2
# How long the pool's minimum replicas may take to start (GPU nodes to come up, engines to load)
# before the run fails saying so, instead of waiting on a cluster that cannot place them.
START_TIMEOUT_ENV = "PRESSROOM_START_TIMEOUT_S"
START_TIMEOUT_S = 3600


def start_timeout() -> float:
    return float(os.environ.get(START_TIMEOUT_ENV) or START_TIMEOUT_S)


@dataclass(frozen=True)
class RenderStage:
    """Read each unit's shards and render their prompts (Ray tasks of half a CPU)."""

    config: RenderConfig
    rows_per_shard: int  # the largest shard: the most rows a block carries between stages

    def apply(self, dataset):
        dataset = dataset.map_batches(
            read_and_render,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"config": self.config},
            num_cpus=READ_TASK_CPUS,
        )
        # Ray Data merges a task's small outputs into one block, so a read unit's shards would reach
        # the actors (and their rows the driver) only when the whole unit is done: blocks of at most
        # a shard's rows keep shards landing one by one (progress, records, resume points).
        return dataset.repartition(target_num_rows_per_block=self.rows_per_shard)


@dataclass(frozen=True)
class GenerateStage:
    """Generate with an actor pool: one engine per actor, placed as the spec's resources say."""

    config: GenerateConfig
    resources: ResourcesSpec

    @property
    def replicas(self) -> tuple[int, int]:
        return self.resources.replica_range

    def apply(self, dataset):
        import ray.data

        from workers.actor import GenerationActor

        low, high = self.replicas
        with warnings.catch_warnings():
            # Ray 2.60 marks ray_remote_args_fn deprecated (removal planned for 2.64), but it is still
            # the one way to give each replica a placement group of its own (ray.data.llm uses it too).
            warnings.filterwarnings("ignore", message=".*ray_remote_args_fn.*")
            return dataset.map_batches(
                GenerationActor,
                fn_constructor_kwargs={"config": self.config},
                batch_size=self.resources.batch_size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(
                    min_size=low, max_size=high, max_concurrent_calls_per_actor=CALLS_PER_ACTOR
                ),
                runtime_env={"env_vars": engine_env(self.engine_threads())},
                **self.actor_resources(),
            )

    def engine_threads(self) -> int:
        """Threads each engine may use: the spec's, else the node's cores shared by the replicas."""
        if self.resources.threads_per_replica:
            return self.resources.threads_per_replica
        if self.resources.gpus_per_replica:
            return 1
        return max(1, (os.cpu_count() or 1) // self.replicas[1])

    def actor_resources(self) -> dict:
        """Ray resources of one generation actor. One GPU or less: asked of the actor itself. A
        tensor-parallel replica: a placement group per replica, STRICT_PACK so its GPUs share a
        node, which the actor and the engine's rank workers schedule into (the actor holds none)."""
        res = self.resources
        if res.tensor_parallel_size > 1:
            return {
                "num_cpus": res.cpus_per_replica,
                "ray_remote_args_fn": partial(
                    replica_placement, res.tensor_parallel_size, res.cpus_per_replica, res.accelerator_type
                ),
            }
        resources: dict = {"num_cpus": res.cpus_per_replica, "num_gpus": res.gpus_per_replica or None}
        if res.accelerator_type:
            resources["accelerator_type"] = res.accelerator_type
        return resources

    def check_cpu_room(self) -> None:
        """Refuse a pool whose actors would hold every CPU: Ray Data then backpressures the reads
        forever (measured: two 1-CPU actors on two CPUs). A cluster that lacks the pool's GPUs is
        waiting for its autoscaler, which brings their CPUs too: not checked then."""
        import ray

        from workers.errors import InputError

        available = ray.cluster_resources()
        cpus, gpus = available.get("CPU", 0), available.get("GPU", 0)
        low, res = self.replicas[0], self.resources
        if res.gpus_per_replica and gpus < low * res.gpus_per_replica:
            return
        held = low * res.cpus_per_replica
        if held + READ_TASK_CPUS > cpus:
            raise InputError(
                f"resources: {low} replica(s) x {res.cpus_per_replica:g} CPU hold {held:g} of the cluster's "
                f"{cpus:g} CPUs, leaving less than the {READ_TASK_CPUS:g} a read/render/write task needs (Ray Data "
                "would backpressure the reads forever): lower replicas or cpus_per_replica, or add CPUs"
            )

    def request_pool(self) -> bool:
        """For an autoscaling GPU pool, ask Ray's autoscaler for the pool's largest size: Ray Data
        grows a (min, max) pool only over GPUs that exist, so GPU nodes starting at zero would never
        come. Returns whether a request was made (withdraw it with `release_pool`)."""
        low, high = self.replicas
        if high == low or not self.resources.gpus_per_replica:
            return False
        from ray.autoscaler.sdk import request_resources

        bundle = {"GPU": self.resources.gpus_per_replica, "CPU": self.resources.cpus_per_replica}
        request_resources(bundles=[bundle] * high)
        return True

    @staticmethod
    def release_pool() -> None:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[])

    def pace(self) -> None:
        """Ray Data settings (this driver's, for this run) for starting the pool. A pool of several
        replicas, or one that needs GPUs, waits until its minimum replicas have loaded before any
        row is handed out (Ray Data's default hands rows to whichever loaded first, and the rest
        start up to seconds later), and fails after `start_timeout()` if the cluster cannot place
        them. A single CPU replica does not wait: its engine loads while the first shards render.
        A read task may run one wave of the pool ahead (default: 2 blocks, then it waits on the
        driver's next scheduling step), and reads are not held back to twice what the actors have
        queued (the object store budget still bounds them). The run-ahead is Ray Data 2.60's
        private `_max_num_blocks_in_streaming_gen_buffer`: the per-op remote arg cannot reach the
        repartition step, which takes none."""
        import ray.data

        context = ray.data.DataContext.get_current()
        waits = self.replicas[0] > 1 or bool(self.resources.gpus_per_replica)
        context.wait_for_min_actors_s = start_timeout() if waits else -1
        context._max_num_blocks_in_streaming_gen_buffer = max(2, self.replicas[1] * CALLS_PER_ACTOR)
        context.downstream_capacity_backpressure_ratio = None

    def not_started(self) -> JobError:
        """The error for a pool whose minimum replicas never all started."""
        res = self.resources
        return JobError(
            f"the pool's {self.replicas[0]} replica(s) did not all start within {start_timeout():g} s "
            f"(${START_TIMEOUT_ENV}): the cluster lacks the {res.gpus_per_replica:g} GPU(s) and "
            f"{res.cpus_per_replica:g} CPU(s) each asks and no autoscaler added them, or their engines are "
            "still loading"
        )


def engine_env(threads: int) -> dict[str, str]:
    """The generation actor's environment: Ray pins OMP_NUM_THREADS to an actor's num_cpus (1), so
    a CPU engine would use one core; and Ray starts workers at niceness 15, so the engine would
    yield its cores to the driver and Ray's own processes. Read tasks stay at 15."""
    return {"OMP_NUM_THREADS": str(threads), "RAY_worker_niceness": "0"}


def replica_placement(gpus: int, cpus: float, accelerator_type: str | None) -> dict:
    """A new placement group for one tensor-parallel replica (called once per actor Ray Data starts)."""
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    pin = {f"accelerator_type:{accelerator_type}": 0.001} if accelerator_type else {}
    bundles = [{"GPU": 1, "CPU": cpus, **pin}] + [{"GPU": 1, **pin} for _ in range(gpus - 1)]
    group = placement_group(bundles, strategy="STRICT_PACK", name="")
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(group, placement_group_capture_child_tasks=True)}


def engine_args(engine: str, resources: ResourcesSpec, args: dict) -> dict:
    """The spec's engine_args, plus the replica's tensor parallelism (vLLM runs its ranks as Ray
    actors inside the replica's placement group)."""
    args = dict(args)
    if resources.tensor_parallel_size > 1:
        args["tensor_parallel_size"] = resources.tensor_parallel_size
        if engine == EngineName.VLLM:
            args.setdefault("distributed_executor_backend", "ray")
    return args
