"""Which rows a run generates: one pass over the input, on the driver, before any engine loads.

Each planned shard's rows are read and rendered the way the render stage renders them (same
code, so the same generation keys), a few thousand rows at a time. A row is then
- reused: an incremental run found its id, with the same generation key and no error, in the run
  it reuses from (its output is copied);
- a follower: sampling is deterministic and an earlier row of this attempt has the same key (the
  earlier row's output is fanned out to it; it counts as generated, but costs no engine request);
- generated: everything else, rows that failed to render included (they become error rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from jobs.reuse.duplicates import shards_with_repeats
from jobs.reuse.previous import FILE, POSITION, PreviousRun
from schemas.manifest import Shard
from schemas.rows import GENERATION_KEY, PROMPT, REFERENCE, ROW
from workers.io import read_shards
from workers.render import RenderConfig, make_renderer, render_rows

CHUNK_ROWS = 8192  # rows rendered (and, for a dry run, tokenized) at a time on the driver


@dataclass
class ShardChoice:
    """What one shard's attempt does with each of its rows."""

    shard: Shard
    generate: np.ndarray  # input row numbers that go to the engine stage
    engine_requests: int | None  # of those, rows that rendered (None: the shard was not rendered here)
    reused: pa.Table | None = None  # kept columns, `_row`, `_file`, `_position` of copied rows
    followers: pa.Table | None = None  # kept columns, `_row`, generation_key of fanned-out rows

    @classmethod
    def everything(cls, shard: Shard) -> ShardChoice:
        """A shard whose every row goes to the engine stage (nothing to copy, no repeats)."""
        return cls(
            shard=shard, generate=np.arange(shard.row_start, shard.row_end, dtype=np.int64), engine_requests=None
        )

    @property
    def rows_reused(self) -> int:
        return self.reused.num_rows if self.reused is not None else 0

    @property
    def rows_generated(self) -> int:
        return self.shard.rows - self.rows_reused

    @property
    def needs_engine(self) -> bool:
        return len(self.generate) > 0


@dataclass
class Dedup:
    """Keys of rows already chosen to generate in this attempt, and the keys that gained followers."""

    enabled: bool
    first: dict[str, int] = field(default_factory=dict)  # key -> shard index of the row generating it
    wanted: set[str] = field(default_factory=set)  # keys some follower waits for


def choose_rows(
    shards: list[Shard],
    *,
    config: RenderConfig,
    id_column: str,
    previous: PreviousRun | None,
    dedup: Dedup,
) -> Iterator[ShardChoice]:
    """Every shard's choice for a run, in order. Only shards that may copy or fan out rows are
    rendered here: all of them when reusing from a run, else those holding repeated raw values."""
    if previous is not None:
        rendered = shards
    elif dedup.enabled:
        columns = [c for c in [*config.template_columns, config.adapter_column, config.image_column] if c]
        repeats = shards_with_repeats(shards, columns=columns)
        rendered = [s for s in shards if s.index in repeats]
    else:
        rendered = []
    chosen = select_rows(rendered, config=config, id_column=id_column, previous=previous, dedup=dedup)
    names = {s.index for s in rendered}
    for shard in shards:
        yield next(chosen) if shard.index in names else ShardChoice.everything(shard)


def select_rows(
    shards: list[Shard],
    *,
    config: RenderConfig,
    id_column: str,
    previous: PreviousRun | None,
    dedup: Dedup,
    keep_tables: bool = True,
    on_rendered: Callable[[pa.Table], None] | None = None,
) -> Iterator[ShardChoice]:
    """Every shard's choice, in the order given; `on_rendered` sees each unit's rendered rows."""
    renderer = make_renderer(config)
    for parts in _chunks(shards, columns=config.read_columns):
        rendered = render_rows(parts, renderer=renderer, config=config)
        if on_rendered is not None:
            on_rendered(rendered)
        keys = rendered.column(GENERATION_KEY).combine_chunks()
        if previous is not None:
            reused, files, positions = previous.match(rendered.column(id_column).combine_chunks(), keys)
        else:
            reused, files, positions = (np.zeros(rendered.num_rows, dtype=bool),) + (
                np.full(rendered.num_rows, -1, dtype=np.int64),
            ) * 2
        located = np.stack([files, positions])  # where each reused row's first sample sits
        followers = _followers(keys.to_pylist(), reused, parts, dedup)
        offset = 0
        for shard, rows, _ in parts:
            span = slice(offset, offset + rows.num_rows)
            offset += rows.num_rows
            yield _choice(
                shard,
                rendered.slice(span.start, rows.num_rows),
                reused[span],
                followers[span],
                located[:, span],
                keep=config.keep_columns if keep_tables else None,
                prompts=config.store_prompts,
            )


def _chunks(shards: list[Shard], *, columns: list[str]) -> Iterator[list[tuple[Shard, pa.Table, np.ndarray]]]:
    """Consecutive shards' rows, about CHUNK_ROWS at a time, from one streaming pass per input file
    (however small the shards: a pass per read unit would re-read a large row group each time)."""
    runs: list[list[Shard]] = []
    for shard in shards:
        if runs and runs[-1][-1].input_file == shard.input_file and runs[-1][-1].row_end <= shard.row_start:
            runs[-1].append(shard)
        else:
            runs.append([shard])
    for run in runs:
        parts, rows = [], 0
        for shard, table in read_shards(run, columns=columns):
            parts.append((shard, table, np.arange(shard.row_start, shard.row_start + table.num_rows, dtype=np.int64)))
            rows += table.num_rows
            if rows >= CHUNK_ROWS:
                yield parts
                parts, rows = [], 0
        if parts:
            yield parts


def _followers(keys: list[str | None], reused: np.ndarray, parts, dedup: Dedup) -> np.ndarray:
    """Rows whose key an earlier generated row of this attempt already has."""
    follows = np.zeros(len(keys), dtype=bool)
    if not dedup.enabled:
        return follows
    shard_of = np.concatenate([np.full(rows.num_rows, shard.index) for shard, rows, _ in parts]).tolist()
    for i, key in enumerate(keys):
        if key is None or reused[i]:
            continue
        if key in dedup.first:
            follows[i] = True
            dedup.wanted.add(key)
        else:
            dedup.first[key] = shard_of[i]
    return follows


def _choice(
    shard: Shard,
    rendered: pa.Table,
    reused: np.ndarray,
    follows: np.ndarray,
    located: np.ndarray,
    *,
    keep: list[str] | None,
    prompts: bool = False,
) -> ShardChoice:
    """A shard's choice from its rendered rows: reused rows (with where each one's first sample
    sits: `located` = file numbers, positions), followers, and the rest to generate."""
    files, positions = located
    rows = rendered.column(ROW).to_numpy()
    generate = ~reused & ~follows
    keys_valid = rendered.column(GENERATION_KEY).is_valid().to_numpy()
    choice = ShardChoice(shard=shard, generate=rows[generate], engine_requests=int((generate & keys_valid).sum()))
    extra = [REFERENCE] if keep and REFERENCE in rendered.column_names else []
    extra += [PROMPT] if keep is not None and prompts else []  # tonight's prompt: the same text, by its key
    if reused.any():
        table = rendered.filter(pa.array(reused)).select([*(keep or []), *extra, ROW])
        choice.reused = table.append_column(FILE, pa.array(files[reused])).append_column(
            POSITION, pa.array(positions[reused])
        )
    if follows.any():
        choice.followers = rendered.filter(pa.array(follows)).select([*(keep or []), *extra, ROW, GENERATION_KEY])
    return choice
