"""The Ray Data graph: read units -> read + render (CPU tasks) -> generate (actor pool) -> driver.

This is the only module that calls `ray` or `ray.data`. Blocks carry `_shard` and `_row` so the
driver can reassemble each shard's rows, in input order, into its own deterministic file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import pyarrow as pa

from jobs.images import image_prompt_sha256, load_image_column
from jobs.plan import Shard, read_shards, read_units
from jobs.render import ERROR_CODE, ERROR_MESSAGE, PROMPT_SHA256, PromptRenderer
from workers.actor import ADAPTER, IMAGE
from workers.engine import EngineConfig

# Non-secret AWS settings workers need (credentials reach local workers by inheritance, and
# cluster nodes by instance roles: never through runtime_env, which Ray stores and shows).
AWS_FORWARDED = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")
# Half a CPU per read task: next to an actor holding one of two cores, two units still read at once.
READ_TASK_CPUS = 0.5
# Two shards' tasks at once per actor: the next shard's batches enter the engine while the current
# shard's last batch finishes (within a task, the async actor overlaps batches).
CALLS_PER_ACTOR = 2
SHARD_COLUMN = "_shard"
ROW_COLUMN = "_row"
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "VLLM_CONFIGURE_LOGGING": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
}


@dataclass(frozen=True)
class StageConfig:
    """What the read/render and generate stages need, shipped to Ray workers."""

    read_columns: list[str]
    keep_columns: list[str]
    adapter_column: str | None  # per-row adapter names
    default_adapter: str | None  # the adapter for every row (model.adapter)
    template: str
    template_columns: list[str]
    system: str | None
    engine_name: str
    engine_config: EngineConfig
    batch_size: int
    replicas: tuple[int, int]
    gpus_per_replica: float
    threads_per_replica: int | None = None
    image_column: str | None = None  # image bytes or paths, loaded and checked in the render stage


def init_ray(*, verbose: bool) -> bool:
    """Start local Ray (or join RAY_ADDRESS) unless already up; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    env = {} if verbose else dict(QUIET_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [_project_root(), os.environ.get("PYTHONPATH")] if p)
    env.update({k: os.environ[k] for k in AWS_FORWARDED if k in os.environ})
    ray.init(
        runtime_env={"env_vars": env},
        log_to_driver=verbose,
        logging_level=logging.INFO if verbose else logging.ERROR,
        include_dashboard=False,
    )
    _configure_data_context(verbose=verbose)
    return True


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def read_and_render(batch: pa.Table, *, config: StageConfig) -> Iterator[pa.Table]:
    """Read each unit's shards in one pass and render their prompts: one table per shard."""
    renderer = PromptRenderer(
        template=config.template, system=config.system, variables=config.template_columns
    )
    for shard, rows in read_items(batch, columns=config.read_columns):
        yield _render_shard(shard, rows, renderer=renderer, config=config)


def read_items(batch: pa.Table, *, columns: list[str]) -> Iterator[tuple[Shard, pa.Table]]:
    """Each shard's rows for a batch of `unit_items`, one streaming pass per unit."""
    for unit in batch.column("shards").to_pylist():
        yield from read_shards([Shard(**s) for s in unit], columns=columns)


def _render_shard(shard: Shard, rows: pa.Table, *, renderer: PromptRenderer, config: StageConfig) -> pa.Table:
    rendered = rows.select(config.keep_columns)
    for name, column in zip(*_columns_of(renderer.render_table(rows))):
        rendered = rendered.append_column(name, column)
    if config.image_column:
        rendered = _with_images(rendered, rows.column(config.image_column), input_file=shard.input_file)
    adapters = _adapter_names(rows, config)
    if adapters is not None:
        rendered = rendered.append_column(ADAPTER, adapters)
    rendered = rendered.append_column(SHARD_COLUMN, pa.array([shard.index] * rows.num_rows, pa.int64()))
    return rendered.append_column(
        ROW_COLUMN, pa.array(range(shard.row_start, shard.row_start + rows.num_rows), pa.int64())
    )


def _columns_of(table: pa.Table) -> tuple[list[str], list[pa.ChunkedArray]]:
    return table.column_names, table.columns


def _with_images(rendered: pa.Table, values: pa.ChunkedArray, *, input_file: str) -> pa.Table:
    """Add the `_image` bytes; a row whose image is missing or unreadable becomes an error row."""
    images = load_image_column(values, input_file=input_file)
    hashes = rendered.column(PROMPT_SHA256).to_pylist()
    codes = rendered.column(ERROR_CODE).to_pylist()
    messages = rendered.column(ERROR_MESSAGE).to_pylist()
    data: list[bytes | None] = [None] * len(images)
    for i, image in enumerate(images):
        if codes[i] is not None:  # a render error is reported first
            continue
        if image.error_code is not None:
            codes[i], messages[i], hashes[i] = image.error_code, image.error_message, None
        else:
            data[i], hashes[i] = image.data, image_prompt_sha256(hashes[i], image.data)
    for name, column in ((PROMPT_SHA256, pa.array(hashes, pa.string())), (ERROR_CODE, pa.array(codes, pa.string())),
                         (ERROR_MESSAGE, pa.array(messages, pa.string()))):
        rendered = rendered.set_column(rendered.schema.get_field_index(name), name, column)
    return rendered.append_column(IMAGE, pa.array(data, pa.binary()))


def _adapter_names(rows: pa.Table, config: StageConfig) -> pa.Array | None:
    if config.adapter_column:
        return rows.column(config.adapter_column).cast(pa.string()).combine_chunks()
    if config.default_adapter:
        return pa.array([config.default_adapter] * rows.num_rows, pa.string())
    return None


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


def unit_items(shards: list[Shard]) -> list[dict]:
    """One input item per read task: shards sharing Parquet row groups are read in one pass."""
    return [{"shards": [asdict(shard) for shard in unit]} for unit in read_units(shards)]


def stream_outputs(shards: list[Shard], *, config: StageConfig) -> Iterator[pa.Table]:
    """Run the graph over the given shards; yield generated batches as they finish."""
    import ray.data

    from workers.actor import GenerationActor

    items = unit_items(shards)
    low, high = config.replicas
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.map_batches(
        read_and_render, batch_size=1, batch_format="pyarrow", fn_kwargs={"config": config}, num_cpus=READ_TASK_CPUS
    )
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
