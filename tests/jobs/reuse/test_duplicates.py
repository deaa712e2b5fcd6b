"""Finding shards that may hold identical requests, from raw values alone."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.inputs import split_shards
from jobs.reuse.duplicates import shards_with_repeats
from schemas.manifest import InputFile


def shards_of(path, rows: int, per_shard: int):
    return split_shards([InputFile(uri=str(path), rows=rows, bytes=0)], rows_per_shard=per_shard)


def test_only_shards_holding_a_repeated_value_tuple_are_named(tmp_path):
    path = tmp_path / "in.parquet"
    titles = [f"t{i}" for i in range(12)]
    bodies = [f"b{i}" for i in range(12)]
    titles[9], bodies[9] = titles[1], bodies[1]  # row 9 repeats row 1: shards 0 and 2
    bodies[5] = bodies[6]  # same body, other title: not a repeat
    titles[11] = "夜间新闻"
    titles[10] = "夜间新闻"  # same title, bodies differ: not a repeat
    pq.write_table(pa.table({"title": titles, "body": bodies}), path, row_group_size=5)
    shards = shards_of(path, 12, 4)
    assert shards_with_repeats(shards, columns=["title", "body"]) == {0, 2}
    assert shards_with_repeats(shards[1:], columns=["title", "body"]) == set()  # row 1 is not planned
    assert shards_with_repeats(shards, columns=["title"]) == {0, 2}


def test_a_template_reading_nothing_repeats_everywhere(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"title": ["a", "b", "c"]}), path)
    assert shards_with_repeats(shards_of(path, 3, 1), columns=[]) == {0, 1, 2}


def test_text_that_is_not_utf8_still_hashes(tmp_path):
    path = tmp_path / "in.parquet"
    raw = pa.array([b"caf\xe9", b"ok", b"caf\xe9"], pa.binary()).view(pa.string())
    pq.write_table(pa.table({"body": raw}), path)
    assert shards_with_repeats(shards_of(path, 3, 1), columns=["body"]) == {0, 2}


def test_list_columns_hash_by_value(tmp_path):
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table({"tags": [["a", "b"], ["c"], ["a", "b"]]}), path)
    assert shards_with_repeats(shards_of(path, 3, 1), columns=["tags"]) == {0, 2}
