"""The driver's side of the stream: reassemble shards from generated batches, keep the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.errors import JobError
from schemas.manifest import Shard
from schemas.rows import ENGINE_LOAD, GEN_START, ROW, SAMPLE_INDEX, SHARD


class ShardCollector:
    """Buffers generated rows per shard; hands each complete shard, in row order, to `write`."""

    def __init__(
        self, shards: list[Shard], *, schema: pa.Schema, samples: int, write: Callable[[Shard, pa.Table], None]
    ):
        self._shards = {s.index: s for s in shards}
        self._samples = samples
        self._parts: dict[int, list[pa.Table]] = {s.index: [] for s in shards}
        self._counts: dict[int, int] = {s.index: 0 for s in shards}
        self._schema = schema
        self._write = write

    def add(self, batch: pa.Table) -> None:
        shard_ids = batch.column(SHARD)
        indexes = pc.unique(shard_ids).to_pylist()
        for index in sorted(indexes):
            part = batch if len(indexes) == 1 else batch.filter(pc.equal(shard_ids, index))
            self._parts[index].append(part)
            self._counts[index] += part.num_rows
            shard = self._shards[index]
            expected = shard.rows * self._samples
            if self._counts[index] > expected:
                raise JobError(f"shard {index} received {self._counts[index]} rows for {expected} outputs")
            if self._counts[index] == expected:
                self._flush(shard)

    def _flush(self, shard: Shard) -> None:
        table = pa.concat_tables(self._parts.pop(shard.index)).sort_by([(ROW, "ascending"), (SAMPLE_INDEX, "ascending")])
        # Sorted, the keys must be exactly (row_start, 0..n-1), (row_start + 1, 0..n-1), ...
        rows = np.repeat(np.arange(shard.row_start, shard.row_end, dtype=np.int64), self._samples)
        samples = np.tile(np.arange(self._samples), shard.rows)
        if not (np.array_equal(table.column(ROW).to_numpy(), rows)
                and np.array_equal(table.column(SAMPLE_INDEX).to_numpy(), samples)):
            raise JobError(f"shard {shard.index} lost or duplicated rows")
        self._write(shard, table.select(self._schema.names).cast(self._schema))

    def missing(self) -> list[int]:
        """Shards that never completed."""
        return sorted(self._parts)


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
