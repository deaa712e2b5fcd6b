"""Split an input table into deterministic shards: same input, same shards."""

from __future__ import annotations

from schemas.manifest import InputFile, Shard


def split_shards(files: list[InputFile], *, rows_per_shard: int) -> list[Shard]:
    """Shards in file order, each at most rows_per_shard rows: same input, same shards."""
    shards: list[Shard] = []
    for file in files:
        for start in range(0, file.rows, rows_per_shard):
            end = min(start + rows_per_shard, file.rows)
            shards.append(Shard(index=len(shards), input_file=file.uri, row_start=start, row_end=end))
    return shards
