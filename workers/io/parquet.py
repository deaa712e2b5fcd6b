"""Parquet reads for shards: one streaming pass over the row groups a run of shards spans.

Runs inside Ray read tasks (and on the driver to plan read units). Nothing is decoded twice and
no row group is held in memory whole.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.manifest import Shard
from workers.errors import InputError
from workers.io.storage import Storage, storage_for

UNIT_SHARDS = 64  # most shards one read task streams out of shared row groups
READ_BATCH_ROWS = 1024  # rows decoded at a time while streaming a row group


def open_parquet(storage: Storage, uri: str) -> pq.ParquetFile:
    """A Parquet file opened for reading; InputError naming the file if it is not one."""
    filesystem, path = storage.arrow_filesystem(uri)
    try:
        return pq.ParquetFile(filesystem.open_input_file(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"input file {uri} is not a readable Parquet file: {exc}") from None


def read_units(shards: list[Shard], *, max_shards: int = UNIT_SHARDS) -> list[list[Shard]]:
    """Shards grouped so each Parquet row group is decoded once: consecutive shards of a file that
    share a row group form one unit (at most `max_shards`, so one huge row group still spreads
    over several read tasks, each skipping what comes before it)."""
    units: list[list[Shard]] = []
    last_group = -1
    starts: dict[str, list[int]] = {}
    for shard in shards:
        if shard.input_file not in starts:
            starts[shard.input_file] = _group_starts(open_parquet(storage_for(shard.input_file), shard.input_file))
        first, last = _group_span(starts[shard.input_file], shard.row_start, shard.row_end)
        unit = units[-1] if units else None
        if unit and unit[-1].input_file == shard.input_file and first <= last_group and len(unit) < max_shards:
            unit.append(shard)
        else:
            units.append([shard])
        last_group = last
    return units


def read_shards(shards: list[Shard], *, columns: list[str]) -> Iterator[tuple[Shard, pa.Table]]:
    """Each shard's rows, in the order given (one file, ascending rows), from one streaming pass
    over the row groups they span: nothing is decoded twice, no row group is held whole."""
    if not shards:
        return
    storage = storage_for(shards[0].input_file)
    parquet = open_parquet(storage, shards[0].input_file)
    starts = _group_starts(parquet)
    first, _ = _group_span(starts, shards[0].row_start, shards[0].row_end)
    _, last = _group_span(starts, shards[-1].row_start, shards[-1].row_end)
    batches = parquet.iter_batches(batch_size=READ_BATCH_ROWS, row_groups=range(first, last + 1), columns=columns)
    cursor = _Cursor(batches, at=starts[first], empty=parquet.schema_arrow.empty_table().select(columns))
    for shard in shards:
        yield shard, cursor.take(shard.row_start, shard.row_end)


def read_shard(shard: Shard, *, columns: list[str]) -> pa.Table:
    """One shard's rows of its input file."""
    return next(read_shards([shard], columns=columns))[1]


def _group_starts(parquet: pq.ParquetFile) -> list[int]:
    """First row of each row group, then the file's row count."""
    starts = [0]
    for group in range(parquet.metadata.num_row_groups):
        starts.append(starts[-1] + parquet.metadata.row_group(group).num_rows)
    return starts


def _group_span(starts: list[int], row_start: int, row_end: int) -> tuple[int, int]:
    """The first and last row group holding rows [row_start, row_end)."""
    last_group = len(starts) - 2
    return min(bisect_right(starts, row_start) - 1, last_group), min(bisect_right(starts, row_end - 1) - 1, last_group)


class _Cursor:
    """Walks record batches forward, handing out row ranges; rows between ranges are skipped."""

    def __init__(self, batches: Iterator[pa.RecordBatch], *, at: int, empty: pa.Table):
        self._batches = batches
        self._at = at  # input row number of the head's first row
        self._head: pa.RecordBatch | None = None
        self._empty = empty

    def take(self, start: int, end: int) -> pa.Table:
        pieces = []
        while self._at < end:
            if self._head is None:
                self._head = next(self._batches, None)
                if self._head is None:
                    raise InputError(f"input ended at row {self._at}, before row {end} of a planned shard")
            head, rows = self._head, self._head.num_rows
            low = min(max(start - self._at, 0), rows)
            high = min(end - self._at, rows)
            if high > low:
                pieces.append(head.slice(low, high - low))
            if high >= rows:
                self._head, self._at = None, self._at + rows
            else:
                self._head, self._at = head.slice(high), self._at + high
        return pa.Table.from_batches(pieces) if pieces else self._empty
