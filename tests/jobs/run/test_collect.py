"""The driver's shard reassembly: rows from any batches, in any order, come out whole and sorted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from jobs.errors import JobError
from jobs.run.collect import ShardCollector
from schemas.manifest import Shard
from schemas.rows import ROW as ROW_COLUMN
from schemas.rows import SAMPLE_INDEX
from schemas.rows import SHARD as SHARD_COLUMN

SHARDS = [
    Shard(index=0, input_file="/in/a.parquet", row_start=0, row_end=3),
    Shard(index=1, input_file="/in/a.parquet", row_start=3, row_end=5),
]


def batch(keys: list[tuple[int, int, int]]) -> pa.Table:
    """Rows (shard, row, sample) as the generation stage returns them."""
    return pa.table(
        {
            "id": [f"r{row}" for _, row, _ in keys],
            SHARD_COLUMN: pa.array([s for s, _, _ in keys], pa.int64()),
            ROW_COLUMN: pa.array([r for _, r, _ in keys], pa.int64()),
            SAMPLE_INDEX: pa.array([j for _, _, j in keys], pa.int32()),
        }
    )


def collector(samples: int, rows=None) -> tuple[ShardCollector, list[tuple[int, list]]]:
    written: list[tuple[int, list]] = []
    collect = ShardCollector(
        SHARDS,
        samples=samples,
        rows=rows,
        done=lambda shard, table: written.append((shard.index, table.select(["id", SAMPLE_INDEX]).to_pylist())),
    )
    return collect, written


def test_shards_come_out_whole_and_in_row_order_from_mixed_batches():
    collect, written = collector(samples=2)
    collect.add(batch([(1, 4, 1), (0, 2, 0), (0, 0, 1), (1, 3, 0)]))  # two shards in one batch
    collect.add(batch([(0, 1, 1), (0, 0, 0), (1, 4, 0)]))
    assert written == []  # shard 0 has 4 of 6 outputs, shard 1 has 3 of 4
    collect.add(batch([(1, 3, 1), (0, 1, 0), (0, 2, 1)]))
    assert [index for index, _ in written] == [0, 1]
    assert written[0][1] == [{"id": f"r{r}", SAMPLE_INDEX: j} for r in range(3) for j in range(2)]
    assert written[1][1] == [{"id": f"r{r}", SAMPLE_INDEX: j} for r in (3, 4) for j in range(2)]
    assert collect.missing() == []


def test_a_duplicated_row_in_place_of_a_missing_one_fails_the_shard():
    collect, written = collector(samples=1)
    with pytest.raises(JobError, match="shard 0 lost or duplicated rows"):
        collect.add(batch([(0, 0, 0), (0, 1, 0), (0, 1, 0)]))
    assert written == []


def test_more_rows_than_a_shard_holds_fail():
    collect, _ = collector(samples=1)
    collect.add(batch([(1, 3, 0)]))
    with pytest.raises(JobError, match="shard 1 received 3 rows for 2 outputs"):
        collect.add(batch([(1, 4, 0), (1, 4, 0)]))
    assert collect.missing() == [0, 1]


def test_a_shard_with_a_row_selection_completes_with_those_rows_alone():
    collect, written = collector(samples=1, rows={0: np.array([0, 2])})
    collect.add(batch([(0, 2, 0)]))
    assert written == []
    collect.add(batch([(0, 0, 0)]))
    assert written == [(0, [{"id": "r0", SAMPLE_INDEX: 0}, {"id": "r2", SAMPLE_INDEX: 0}])]
    assert collect.missing() == [1]
