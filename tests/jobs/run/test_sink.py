"""The shard sink: generated rows from any batches, in any order, and rows fanned out from other
shards come together into whole shards in input order, each written once; a lost or doubled row
fails the shard."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from jobs.errors import JobError
from jobs.reuse import ShardChoice
from jobs.run.sink import ShardSink
from schemas.manifest import Shard
from schemas.rows import ERROR_CODE, GENERATION_KEY, NUM_OUTPUT_TOKENS, ROW, SAMPLE_INDEX, SHARD, TEXT

SCHEMA = pa.schema([("id", pa.string()), (SAMPLE_INDEX, pa.int32()), (TEXT, pa.string())])


class Written:
    """A writer that keeps what the sink hands it."""

    def __init__(self):
        self.tables: dict[int, pa.Table] = {}
        self.order: list[int] = []

    def write(self, shard, table, work) -> None:
        self.tables[shard.index] = table
        self.order.append(shard.index)


def sink(written: Written, *, samples: int = 1, wanted: set[str] | None = None) -> ShardSink:
    return ShardSink(schema=SCHEMA, keep=["id"], samples=samples, metrics=[], previous=None,
                     wanted=wanted or set(), writer=written)  # fmt: skip


def shard(index: int, rows: int = 2) -> Shard:
    return Shard(index=index, input_file="in.parquet", row_start=2 * index, row_end=2 * index + rows)


def rows(keys: list[tuple[int, int, int]], made: dict[int, str] | None = None) -> pa.Table:
    """Generated rows (shard, row, sample), as the engine stage returns them: text and key made from the row."""
    made = made or {}
    return pa.table({
        "id": [f"r{r}" for _, r, _ in keys],
        SAMPLE_INDEX: pa.array([j for _, _, j in keys], pa.int32()),
        TEXT: [f"made {made.get(r, r)}" for _, r, _ in keys],
        SHARD: pa.array([s for s, _, _ in keys], pa.int64()),
        ROW: pa.array([r for _, r, _ in keys], pa.int64()),
        GENERATION_KEY: [str(made.get(r, r)) for _, r, _ in keys],
        NUM_OUTPUT_TOKENS: [4] * len(keys),
        ERROR_CODE: pa.array([None] * len(keys), pa.string()),
    })  # fmt: skip


def following(index: int, generate: list[int], followers: dict[int, str]) -> ShardChoice:
    """A shard sending `generate` rows to the engine, and whose `followers` rows repeat a key."""
    table = pa.table({"id": [f"r{r}" for r in followers], ROW: pa.array(list(followers), pa.int64()),
                      GENERATION_KEY: list(followers.values())})  # fmt: skip
    return ShardChoice(shard=shard(index), generate=np.array(generate, dtype=np.int64), engine_requests=len(generate),
                       followers=table)  # fmt: skip


def test_shards_come_out_whole_and_in_row_order_from_mixed_batches():
    written = Written()
    shards = sink(written, samples=2)
    shards.add(ShardChoice.everything(shard(0, 3)))
    shards.add(ShardChoice.everything(Shard(index=1, input_file="in.parquet", row_start=3, row_end=5)))
    shards.take(rows([(1, 4, 1), (0, 2, 0), (0, 0, 1), (1, 3, 0)]))  # two shards in one batch
    shards.take(rows([(0, 1, 1), (0, 0, 0), (1, 4, 0)]))
    assert written.order == []  # shard 0 has 4 of 6 outputs, shard 1 has 3 of 4
    shards.take(rows([(1, 3, 1), (0, 1, 0), (0, 2, 1)]))
    assert written.order == [0, 1] and shards.pending() == []
    assert written.tables[0].select(["id", SAMPLE_INDEX]).to_pylist() == [
        {"id": f"r{r}", SAMPLE_INDEX: j} for r in range(3) for j in range(2)
    ]
    assert written.tables[1].column("id").to_pylist() == ["r3", "r3", "r4", "r4"]


def test_a_duplicated_row_in_place_of_a_missing_one_fails_the_shard():
    written = Written()
    shards = sink(written)
    shards.add(ShardChoice.everything(shard(0, 3)))
    with pytest.raises(JobError, match="shard 0 lost or duplicated rows"):
        shards.take(rows([(0, 0, 0), (0, 1, 0), (0, 1, 0)]))
    assert written.order == []


def test_more_rows_than_a_shard_holds_fail():
    shards = sink(Written())
    shards.add(ShardChoice.everything(shard(1)))
    shards.take(rows([(1, 3, 0)]))
    with pytest.raises(JobError, match="shard 1 received 3 rows for 2 outputs"):
        shards.take(rows([(1, 2, 0), (1, 2, 0)]))
    assert shards.pending() == [1]


@pytest.mark.parametrize("followers_first", [True, False])
def test_a_follower_shard_is_written_once_every_row_it_copies_has_arrived(followers_first):
    written = Written()
    shards = sink(written, wanted={"a", "c"})
    choices = [ShardChoice.everything(shard(0)), ShardChoice.everything(shard(1)), following(2, [], {4: "c", 5: "a"})]
    for choice in choices[::-1] if followers_first else choices:
        shards.add(choice)
    assert written.order == [] and shards.pending() == [0, 1, 2]
    shards.take(rows([(0, 0, 0), (0, 1, 0)], made={0: "a", 1: "b"}))
    assert written.order == [0]  # shard 2 still waits for "c", which shard 1 makes
    shards.take(rows([(1, 2, 0), (1, 3, 0)], made={2: "c", 3: "d"}))
    assert sorted(written.order) == [0, 1, 2] and shards.pending() == []
    assert written.tables[2].to_pydict() == {"id": ["r4", "r5"], SAMPLE_INDEX: [0, 0], TEXT: ["made c", "made a"]}


def test_a_shard_with_a_row_selection_completes_with_its_generated_and_fanned_out_rows():
    written = Written()
    shards = sink(written, wanted={"x"})
    shards.add(following(0, [0], {1: "x"}))  # row 0 is generated; row 1 repeats its key
    assert written.order == []
    shards.take(rows([(0, 0, 0)], made={0: "x"}))
    assert written.tables[0].to_pydict() == {"id": ["r0", "r1"], SAMPLE_INDEX: [0, 0], TEXT: ["made x", "made x"]}


def test_a_follower_added_after_its_rows_arrived_is_written_at_once():
    written = Written()
    shards = sink(written, wanted={"a"})
    shards.add(ShardChoice.everything(shard(0)))
    shards.take(rows([(0, 0, 0), (0, 1, 0)], made={0: "a", 1: "b"}))
    shards.add(following(1, [], {2: "a", 3: "a"}))
    assert written.order == [0, 1]
