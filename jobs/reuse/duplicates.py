"""Which shards may hold identical requests, found without rendering anything.

Two rows can only share a generation key if every value the template reads (and the row's
adapter and image) is equal, or the template throws the difference away. One streaming pass
hashes those raw values per row (8 bytes per row held) and names the shards holding a repeated
hash; only those shards are rendered on the driver to find the true duplicates. A full run
whose rows are all distinct, the common case, so renders nothing twice.

A template that maps different values to one prompt (`{{ title | trim }}` over titles that
differ in spaces) is not fanned out: those rows are generated each, which costs time, never
correctness.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from schemas.manifest import Shard
from workers.io import open_parquet, storage_for

BATCH_ROWS = 4096  # rows decoded at a time: an image column holds whole images


def _raw(column: pa.Array) -> pa.Array:
    """Text as its bytes: a value that is not valid UTF-8 still hashes (it becomes an error row later)."""
    if pa.types.is_string(column.type):
        return column.view(pa.binary())
    if pa.types.is_large_string(column.type):
        return column.view(pa.large_binary())
    return column


def _values(column: pa.Array) -> list:
    """Hashable Python values of a column (lists, structs and maps by their repr)."""
    if pa.types.is_nested(column.type):
        return [repr(v) for v in column.to_pylist()]
    return _raw(column).to_pylist()


def shards_with_repeats(shards: list[Shard], *, columns: list[str]) -> set[int]:
    """Indexes of the shards holding a row whose `columns` values another row repeats."""
    if not columns:  # the template reads nothing: every row asks the same
        return {s.index for s in shards}
    hashes, shard_of = [], []
    by_file: dict[str, list[Shard]] = {}
    for shard in shards:
        by_file.setdefault(shard.input_file, []).append(shard)
    for uri, file_shards in by_file.items():
        starts = np.array([s.row_start for s in file_shards])
        ends = np.array([s.row_end for s in file_shards])
        indexes = np.array([s.index for s in file_shards])
        parquet = open_parquet(storage_for(uri), uri)
        row = 0
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            try:
                values = [_values(column) for column in batch.columns]
            except UnicodeDecodeError:  # bad text nested in a list or struct: render every shard to compare
                return {s.index for s in shards}
            numbers = np.arange(row, row + batch.num_rows)
            row += batch.num_rows
            at = np.searchsorted(starts, numbers, side="right") - 1
            planned = (at >= 0) & (numbers < ends[np.clip(at, 0, None)])
            batch_hashes = np.fromiter(
                (hash(v) for v in zip(*values, strict=True)), dtype=np.int64, count=batch.num_rows
            )
            hashes.append(batch_hashes[planned])
            shard_of.append(indexes[at[planned]])
    if not hashes:
        return set()
    every = np.concatenate(hashes)
    owners = np.concatenate(shard_of)
    order = np.argsort(every, kind="stable")
    ordered = every[order]
    repeated = np.zeros(len(ordered), dtype=bool)
    same = ordered[1:] == ordered[:-1]
    repeated[1:] |= same
    repeated[:-1] |= same
    return set(owners[order[repeated]].tolist())
