"""ShardAssembler: a shard whose rows copy another shard's generated output is written once those
rows arrive, in whatever order shards and their generated rows come."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from jobs.reuse import ShardAssembler
from jobs.reuse.select import ShardChoice
from schemas.manifest import Shard
from schemas.rows import ERROR_CODE, GENERATION_KEY, NUM_OUTPUT_TOKENS, ROW, SAMPLE_INDEX, TEXT

SCHEMA = pa.schema([("id", pa.string()), (SAMPLE_INDEX, pa.int32()), (TEXT, pa.string())])


def shard(index: int) -> Shard:
    return Shard(index=index, input_file="in.parquet", row_start=2 * index, row_end=2 * index + 2)


def engine_rows(index: int, keys: list[str]) -> pa.Table:
    """What the engine stage returns for shard `index`: one row per key, text made from the key."""
    rows = [2 * index, 2 * index + 1]
    return pa.table(
        {
            "id": [f"r{r}" for r in rows],
            SAMPLE_INDEX: pa.array([0, 0], pa.int32()),
            TEXT: [f"made {k}" for k in keys],
            ROW: pa.array(rows, pa.int64()),
            GENERATION_KEY: keys,
            NUM_OUTPUT_TOKENS: [4, 4],
            ERROR_CODE: pa.array([None, None], pa.string()),
        }
    )


def generating(index: int) -> ShardChoice:
    return ShardChoice.everything(shard(index))


def following(index: int, keys: list[str]) -> ShardChoice:
    """A shard whose two rows both repeat rows generated elsewhere (no engine)."""
    rows = [2 * index, 2 * index + 1]
    followers = pa.table({"id": [f"r{r}" for r in rows], ROW: pa.array(rows, pa.int64()), GENERATION_KEY: keys})
    return ShardChoice(
        shard=shard(index), generate=np.array([], dtype=np.int64), engine_requests=0, followers=followers
    )


@pytest.mark.parametrize("followers_first", [True, False])
def test_a_follower_shard_is_written_once_every_row_it_copies_has_arrived(followers_first):
    written: dict[int, pa.Table] = {}
    assembler = ShardAssembler(
        schema=SCHEMA,
        keep=["id"],
        samples=1,
        previous=None,
        wanted={"a", "b", "c"},
        write=lambda s, table, work: written.setdefault(s.index, table),
    )
    choices = [generating(0), generating(1), following(2, ["c", "a"])]
    for choice in choices[::-1] if followers_first else choices:
        assembler.add(choice)
    assert written == {} and assembler.pending() == [0, 1, 2]

    assembler.generated(shard(0), engine_rows(0, ["a", "b"]))
    assert sorted(written) == [0]  # shard 2 still waits for "c", which shard 1 makes
    assembler.generated(shard(1), engine_rows(1, ["c", "d"]))
    assert sorted(written) == [0, 1, 2] and assembler.pending() == []
    assert written[2].to_pydict() == {"id": ["r4", "r5"], SAMPLE_INDEX: [0, 0], TEXT: ["made c", "made a"]}


def test_a_follower_added_after_its_rows_arrived_is_written_at_once():
    written: list[int] = []
    assembler = ShardAssembler(
        schema=SCHEMA,
        keep=["id"],
        samples=1,
        previous=None,
        wanted={"a"},
        write=lambda s, table, work: written.append(s.index),
    )
    assembler.add(generating(0))
    assembler.generated(shard(0), engine_rows(0, ["a", "b"]))
    assembler.add(following(1, ["a", "a"]))
    assert written == [0, 1]
