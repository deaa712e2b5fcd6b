"""The driver's side of the stream: reassemble shards from generated batches, keep the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.errors import JobError
from jobs.reuse import check_rows
from schemas.manifest import Shard
from schemas.rows import ENGINE_LOAD, GEN_START, ROW, SAMPLE_INDEX, SHARD


class ShardCollector:
    """Buffers generated rows per shard; hands each complete shard, in row order, to `done`.

    `rows` names the input rows each shard sends to the engine stage (default: all of them); the
    table handed on keeps `_row` so reused and fanned-out rows can join it.
    """

    def __init__(
        self,
        shards: list[Shard],
        *,
        samples: int,
        done: Callable[[Shard, pa.Table], None],
        rows: dict[int, np.ndarray] | None = None,
    ):
        self._shards = {s.index: s for s in shards}
        self._samples = samples
        self._rows = {s.index: _rows_of(s, rows) for s in shards}
        self._parts: dict[int, list[pa.Table]] = {s.index: [] for s in shards}
        self._counts: dict[int, int] = {s.index: 0 for s in shards}
        self._done = done

    def add(self, batch: pa.Table) -> None:
        shard_ids = batch.column(SHARD)
        indexes = pc.unique(shard_ids).to_pylist()
        for index in sorted(indexes):
            part = batch if len(indexes) == 1 else batch.filter(pc.equal(shard_ids, index))
            self._parts[index].append(part)
            self._counts[index] += part.num_rows
            expected = len(self._rows[index]) * self._samples
            if self._counts[index] > expected:
                raise JobError(f"shard {index} received {self._counts[index]} rows for {expected} outputs")
            if self._counts[index] == expected:
                self._flush(self._shards[index])

    def _flush(self, shard: Shard) -> None:
        table = pa.concat_tables(self._parts.pop(shard.index)).sort_by(
            [(ROW, "ascending"), (SAMPLE_INDEX, "ascending")]
        )
        check_rows(table, self._rows.pop(shard.index), samples=self._samples, shard=shard.index)
        self._done(shard, table)

    def missing(self) -> list[int]:
        """Shards that never completed."""
        return sorted(self._parts)


def _rows_of(shard: Shard, rows: dict[int, np.ndarray] | None) -> np.ndarray:
    if rows is not None and shard.index in rows:
        return rows[shard.index]
    return np.arange(shard.row_start, shard.row_end, dtype=np.int64)


@dataclass
class GenerationClock:
    """Wall-clock marks: when the pipeline started, when an engine first got rows (from the
    actors' per-batch marks), when the last shard was written, and the slowest engine load."""

    pipeline_start: float = field(default_factory=time.time)
    first_generate: float | None = None
    last_written: float | None = None
    engine_load: float = 0.0
    write_seconds: float = 0.0

    def see(self, batch: pa.Table) -> None:
        if batch.num_rows:
            start = pc.min(batch.column(GEN_START)).as_py()
            self.first_generate = min(start, self.first_generate or start)
            self.engine_load = max(self.engine_load, pc.max(batch.column(ENGINE_LOAD)).as_py())

    def timings(self) -> dict[str, float]:
        end = self.last_written or time.time()
        first = self.first_generate or end
        return {
            "startup": first - self.pipeline_start,  # Ray Data start, read, engine load
            "engine_load": self.engine_load,
            "generate": end - first,  # first row handed to a loaded engine -> last shard written
            "write": self.write_seconds,
        }
