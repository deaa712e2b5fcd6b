"""The read-and-render stage: a Ray task reads a unit's shards and renders their prompts.

Each output block is one shard's rows: the kept input columns, the rendered prompt and its hash
(or a render error), the image bytes and adapter name when the job has them, and the stage
columns `_shard` and `_row` that let the driver reassemble each shard in input order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from schemas.manifest import Shard
from schemas.rows import ADAPTER, ERROR_CODE, ERROR_MESSAGE, GENERATION_KEY, IMAGE, PROMPT_SHA256, REFERENCE, ROW, SHARD
from workers.io import read_shards, read_units
from workers.render.images import image_prompt_sha256, load_image_column
from workers.render.keys import generation_keys
from workers.render.template import PromptRenderer
from workers.secrets import load_secrets


@dataclass(frozen=True)
class RenderConfig:
    """What the read/render stage needs (the driver's row choice renders with it too, so both make
    the same prompts and generation keys). Shipped to Ray workers."""

    read_columns: list[str]  # input columns read: id, carried, template, adapter, reference, image
    keep_columns: list[str]  # input columns carried into the outputs: the id first
    template: str
    template_columns: list[str]
    system: str | None
    run_key: str = ""  # the run's part of every row's generation key (workers.render.keys.run_key)
    adapter_column: str | None = None  # per-row adapter names
    default_adapter: str | None = None  # the adapter for every row (model.adapter)
    adapter_sha256s: dict[str, str] = field(default_factory=dict)  # adapter name -> content hash, for the keys
    image_column: str | None = None  # image bytes or paths, loaded and checked here
    image_roots: tuple[str, ...] = ()  # where image paths may point (see workers.render.images.image_roots)
    reference_column: str | None = None  # quality.reference_column: travels as `_reference` to the driver
    store_prompts: bool = False  # output.store_prompts: copied and fanned-out rows take tonight's prompt


def read_and_render(batch: pa.Table, *, config: RenderConfig) -> Iterator[pa.Table]:
    """Read each unit's shards in one pass and render their prompts: one table per shard (only
    the rows an item selects, when it selects some)."""
    load_secrets()  # a submitted run's credentials (e.g. for s3:// inputs), by reference
    renderer = make_renderer(config)
    for shard, rows, numbers in read_items(batch, columns=config.read_columns):
        yield render_rows([(shard, rows, numbers)], renderer=renderer, config=config)


def make_renderer(config: RenderConfig) -> PromptRenderer:
    """The stage's prompt renderer."""
    return PromptRenderer(template=config.template, system=config.system, variables=config.template_columns)


def read_items(batch: pa.Table, *, columns: list[str]) -> Iterator[tuple[Shard, pa.Table, np.ndarray]]:
    """Each shard's rows and their input row numbers for a batch of `unit_items`, one streaming
    pass per unit; a shard with a row selection yields only those rows."""
    selections = batch.column("rows").to_pylist() if "rows" in batch.column_names else None
    for i, unit in enumerate(batch.column("shards").to_pylist()):
        chosen = selections[i] if selections else [None] * len(unit)
        shards = [Shard.model_validate(s) for s in unit]
        for (shard, rows), numbers in zip(read_shards(shards, columns=columns), chosen, strict=True):
            if numbers is None:
                yield shard, rows, np.arange(shard.row_start, shard.row_start + rows.num_rows, dtype=np.int64)
            else:
                numbers = np.asarray(numbers, dtype=np.int64)
                yield shard, rows.take(pa.array(numbers - shard.row_start)), numbers


def render_rows(
    parts: list[tuple[Shard, pa.Table, np.ndarray]], *, renderer: PromptRenderer, config: RenderConfig
) -> pa.Table:
    """Render rows of one input file (several shards' at once when given): kept columns, prompt,
    hashes, generation key, errors, images, adapters, `_shard` and `_row`."""
    rows = pa.concat_tables([part[1] for part in parts]) if len(parts) > 1 else parts[0][1]
    rendered = rows.select(config.keep_columns)
    for name, column in zip(*_columns_of(renderer.render_table(rows)), strict=True):
        rendered = rendered.append_column(name, column)
    if config.image_column:
        rendered = _with_images(
            rendered,
            rows.column(config.image_column),
            input_file=parts[0][0].input_file,
            roots=list(config.image_roots),
        )
    adapters = _adapter_names(rows, config)
    if adapters is not None:
        rendered = rendered.append_column(ADAPTER, adapters)
    keys = generation_keys(
        rendered.column(PROMPT_SHA256).to_pylist(),
        adapters.to_pylist() if adapters is not None else None,
        run_key=config.run_key,
        adapter_sha256s=config.adapter_sha256s,
    )
    rendered = rendered.add_column(rendered.schema.get_field_index(PROMPT_SHA256) + 1, GENERATION_KEY, keys)
    if config.reference_column:
        rendered = rendered.append_column(REFERENCE, _as_text(rows.column(config.reference_column)))
    shard_ids = np.concatenate([np.full(part[1].num_rows, part[0].index, dtype=np.int64) for part in parts])
    rendered = rendered.append_column(SHARD, pa.array(shard_ids))
    return rendered.append_column(ROW, pa.array(np.concatenate([part[2] for part in parts])))


def _columns_of(table: pa.Table) -> tuple[list[str], list[pa.ChunkedArray]]:
    return table.column_names, table.columns


def _with_images(rendered: pa.Table, values: pa.ChunkedArray, *, input_file: str, roots: list[str]) -> pa.Table:
    """Add the `_image` bytes; a row whose image is missing, unreadable or not allowed is an error row."""
    images = load_image_column(values, input_file=input_file, roots=roots)
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
    for name, column in (
        (PROMPT_SHA256, pa.array(hashes, pa.string())),
        (ERROR_CODE, pa.array(codes, pa.string())),
        (ERROR_MESSAGE, pa.array(messages, pa.string())),
    ):
        rendered = rendered.set_column(rendered.schema.get_field_index(name), name, column)
    return rendered.append_column(IMAGE, pa.array(data, pa.binary()))


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A reference column as text (numbers and dates by their string form)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    return column.cast(pa.string(), safe=False)


def _adapter_names(rows: pa.Table, config: RenderConfig) -> pa.Array | None:
    if config.adapter_column:
        return rows.column(config.adapter_column).cast(pa.string()).combine_chunks()
    if config.default_adapter:
        return pa.array([config.default_adapter] * rows.num_rows, pa.string())
    return None


def unit_items(shards: list[Shard], selected: dict[int, list[int]] | None = None) -> list[dict]:
    """One input item per read task: shards sharing Parquet row groups are read in one pass.
    `selected` names, per shard index, the only input rows to read (others: every row)."""
    items = []
    for unit in read_units(shards):
        item: dict = {"shards": [shard.model_dump() for shard in unit]}
        if selected:
            item["rows"] = [selected.get(shard.index) for shard in unit]
        items.append(item)
    return items
