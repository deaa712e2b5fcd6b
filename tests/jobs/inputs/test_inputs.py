"""inspect_input rejects unusable tables naming file and column; shards are exact and deterministic."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.errors import InputError
from jobs.inputs import inspect_input, split_shards
from schemas.manifest import InputFile, Shard
from schemas.spec import JobSpec
from tests.builders import article_table, write_parquet
from workers.io import read_shard, read_shards, read_units


def _spec(input_uri: Path, *, prompt: str = "{{ title }}: {{ body }}", **input_fields) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "plan-test",
            "input": {"uri": str(input_uri), "id_column": "id", "columns": ["title", "score"], **input_fields},
            "task": {"kind": "custom", "prompt": prompt},
            "output": {"uri": "/unused"},
        }
    )


def _input_error(spec: JobSpec) -> str:
    with pytest.raises(InputError) as info:
        inspect_input(spec)
    assert info.value.exit_code == 2
    return str(info.value)


def test_inspect_single_file(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", article_table(10))
    table = inspect_input(_spec(path, prompt="{{ body }} {{ title }}"))
    assert table.rows == 10
    assert [(f.uri, f.rows, f.bytes) for f in table.files] == [(str(path), 10, path.stat().st_size)]
    assert table.files[0].mtime_ns == path.stat().st_mtime_ns
    assert table.read_columns == ["id", "title", "score", "body"]
    assert table.template_columns == ["body", "title"]
    assert table.schema.field("score").type == pa.int64()


def test_inspect_directory_reads_parquet_files_in_sorted_order(tmp_path):
    write_parquet(tmp_path / "in" / "b.parquet", article_table(3, start=10))
    write_parquet(tmp_path / "in" / "a.parquet", article_table(5))
    (tmp_path / "in" / "README.txt").write_text("not data")
    table = inspect_input(_spec(tmp_path / "in"))
    assert [Path(f.uri).name for f in table.files] == ["a.parquet", "b.parquet"]
    assert [f.rows for f in table.files] == [5, 3]
    assert table.rows == 8


def test_missing_input_file(tmp_path):
    path = tmp_path / "missing.parquet"
    assert _input_error(_spec(path)) == (
        f"input file not found: {path} (a relative input.uri resolves against the spec file's folder)"
    )


def test_directory_without_parquet_files(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "rows.csv").write_text("id\n1\n")
    message = _input_error(_spec(tmp_path / "in"))
    assert message == f"input directory {tmp_path / 'in'} holds no .parquet files"


@pytest.mark.parametrize(
    ("input_fields", "prompt", "column", "needed_by"),
    [
        ({"id_column": "article_id"}, "{{ title }}", "article_id", "id_column"),
        ({"columns": ["title", "author"]}, "{{ title }}", "author", "input.columns"),
        ({}, "{{ title }} {{ headline }}", "headline", "task.prompt"),
    ],
)
def test_missing_column_names_file_column_and_field(tmp_path, input_fields, prompt, column, needed_by):
    path = write_parquet(tmp_path / "a.parquet", article_table(3))
    message = _input_error(_spec(path, prompt=prompt, **input_fields))
    assert str(path) in message
    assert f"no column {column!r} (needed by {needed_by})" in message
    assert "columns: id, title, body, score" in message


def test_missing_column_in_second_file_names_that_file(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", article_table(3))
    second = write_parquet(tmp_path / "in" / "b.parquet", article_table(3, start=3).drop_columns(["score"]))
    message = _input_error(_spec(tmp_path / "in"))
    assert f"input file {second} has no column 'score'" in message


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01garbage bytes that are not parquet\xff" * 10,
        b"id,title,body,score\nr1,a,b,1\n",  # a CSV with the wrong extension
        b"",
    ],
    ids=["garbage", "csv", "empty-file"],
)
def test_unreadable_file(tmp_path, content):
    path = tmp_path / "x.parquet"
    path.write_bytes(content)
    message = _input_error(_spec(path))
    assert message.startswith(f"input file {path} is not a readable Parquet file: ")


def test_truncated_file(tmp_path):
    good = write_parquet(tmp_path / "good.parquet", article_table(50))
    path = tmp_path / "x.parquet"
    path.write_bytes(good.read_bytes()[:-64])
    assert _input_error(_spec(path)).startswith(f"input file {path} is not a readable Parquet file")


def test_corrupt_data_pages_with_intact_footer(tmp_path):
    path = write_parquet(tmp_path / "x.parquet", article_table(500), compression="none")
    data = bytearray(path.read_bytes())
    data[8 : len(data) // 2] = b"\xaa" * (len(data) // 2 - 8)  # pages gone, footer kept
    path.write_bytes(bytes(data))
    assert pq.ParquetFile(path).metadata.num_rows == 500  # the footer still reads
    assert str(path) in _input_error(_spec(path))


def test_duplicate_ids_in_one_file(tmp_path):
    table = article_table(6)
    ids = table.column("id").to_pylist()
    ids[4] = ids[1]
    path = write_parquet(tmp_path / "a.parquet", table.set_column(0, "id", pa.array(ids)))
    message = _input_error(_spec(path))
    assert message == f"input file(s) {path}: id column 'id' has 1 duplicated value(s), e.g. 'r0001'"


def test_duplicate_ids_across_files_name_the_input(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", article_table(5))
    write_parquet(tmp_path / "in" / "b.parquet", article_table(5, start=3))
    message = _input_error(_spec(tmp_path / "in"))
    assert "id column 'id' has 2 duplicated value(s)" in message
    assert str(tmp_path / "in") in message


def test_duplicate_ids_across_files_are_rejected(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", article_table(5))
    write_parquet(tmp_path / "in" / "b.parquet", article_table(5, start=3))
    message = _input_error(_spec(tmp_path / "in"))
    assert "id column 'id' has 2 duplicated value(s), e.g. 'r0003', 'r0004'" in message


def test_ids_whose_hashes_collide_are_not_duplicates(tmp_path):
    assert hash(-1) == hash(-2)  # CPython: the duplicate check's first pass sees one hash twice
    table = article_table(3).set_column(0, "id", pa.array([-1, -2, 7]))
    assert inspect_input(_spec(write_parquet(tmp_path / "a.parquet", table))).rows == 3
    table = article_table(4).set_column(0, "id", pa.array([-1, -2, 7, -2]))
    assert "id column 'id' has 1 duplicated value(s), e.g. -2" in _input_error(
        _spec(write_parquet(tmp_path / "b.parquet", table))
    )


def test_null_ids(tmp_path):
    table = article_table(4)
    path = write_parquet(tmp_path / "a.parquet", table.set_column(0, "id", pa.array(["a", None, "c", None])))
    assert _input_error(_spec(path)) == f"input file {path}: id column 'id' has 2 null(s)"


def test_nan_ids_are_refused_like_nulls(tmp_path):
    path = write_parquet(
        tmp_path / "a.parquet", article_table(3).set_column(0, "id", pa.array([1.5, float("nan"), float("nan")]))
    )
    assert _input_error(_spec(path)) == f"input file {path}: id column 'id' has 2 NaN(s)"  # NaN == NaN is false


@pytest.mark.parametrize("ids", [pa.array([[1], [2], [3]]), pa.array([{"a": 1}, {"a": 2}, {"a": 3}])])
def test_list_and_struct_ids_are_bad_input_not_a_crash(tmp_path, ids):
    path = write_parquet(tmp_path / "a.parquet", article_table(3).set_column(0, "id", ids))
    assert _input_error(_spec(path)).startswith(
        f"input file {path}: id column 'id' (input.id_column) is {str(ids.type)[:4]}"
    )
    assert _input_error(_spec(path)).endswith("; ids must be scalars: strings, integers, decimals, dates or bytes")


def test_column_type_mismatch_between_files(tmp_path):
    first = write_parquet(tmp_path / "in" / "a.parquet", article_table(3))
    table = article_table(3, start=3)
    second = write_parquet(tmp_path / "in" / "b.parquet", table.set_column(3, "score", pa.array(["x", "y", "z"])))
    message = _input_error(_spec(tmp_path / "in"))
    assert message == f"input file {second}: column 'score' is string, but {first} has int64"


def test_type_mismatch_in_unread_column_is_allowed(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", article_table(3).append_column("extra", pa.array([1, 2, 3])))
    write_parquet(tmp_path / "in" / "b.parquet", article_table(3, start=3).append_column("extra", pa.array(["a"] * 3)))
    assert inspect_input(_spec(tmp_path / "in")).rows == 6


def test_empty_table_has_no_shards(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", article_table(0))
    table = inspect_input(_spec(path))
    assert table.rows == 0
    assert split_shards(table.files, rows_per_shard=4) == []


def _files(*sizes: int) -> list[InputFile]:
    return [InputFile(uri=f"/in/part-{i}.parquet", rows=rows, bytes=100 * rows) for i, rows in enumerate(sizes)]


def test_plan_shards_exact_layout():
    shards = split_shards(_files(12, 5), rows_per_shard=5)
    assert shards == [
        Shard(index=0, input_file="/in/part-0.parquet", row_start=0, row_end=5),
        Shard(index=1, input_file="/in/part-0.parquet", row_start=5, row_end=10),
        Shard(index=2, input_file="/in/part-0.parquet", row_start=10, row_end=12),
        Shard(index=3, input_file="/in/part-1.parquet", row_start=0, row_end=5),
    ]
    assert [s.rows for s in shards] == [5, 5, 2, 5]


@pytest.mark.parametrize("rows_per_shard", [1, 3, 5, 12, 13, 1000])
def test_plan_shards_cover_every_row_once(rows_per_shard):
    files = _files(12, 0, 7)
    shards = split_shards(files, rows_per_shard=rows_per_shard)
    assert shards == split_shards(files, rows_per_shard=rows_per_shard)  # deterministic
    assert [s.index for s in shards] == list(range(len(shards)))
    assert all(0 < s.rows <= rows_per_shard for s in shards)
    covered = [(s.input_file, row) for s in shards for row in range(s.row_start, s.row_end)]
    expected = [(f.uri, row) for f in files for row in range(f.rows)]
    assert covered == expected  # every row once, in file order


def test_read_shard_across_row_groups(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", article_table(23), row_group_size=7)
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)] == [7, 7, 7, 2]
    files = inspect_input(_spec(path)).files
    shards = split_shards(files, rows_per_shard=5)
    assert [(s.row_start, s.row_end) for s in shards] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    all_ids = [f"r{i:04d}" for i in range(23)]
    for shard in shards:
        table = read_shard(shard, columns=["id", "score"])
        assert table.column_names == ["id", "score"]
        assert table.column("id").to_pylist() == all_ids[shard.row_start : shard.row_end]
        assert table.column("score").to_pylist() == list(range(shard.row_start, shard.row_end))


def test_read_shard_from_second_file(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", article_table(4))
    write_parquet(tmp_path / "in" / "b.parquet", article_table(6, start=4), row_group_size=4)
    shards = split_shards(inspect_input(_spec(tmp_path / "in")).files, rows_per_shard=3)
    ids = [read_shard(s, columns=["id"]).column("id").to_pylist() for s in shards]
    assert ids == [["r0000", "r0001", "r0002"], ["r0003"], ["r0004", "r0005", "r0006"], ["r0007", "r0008", "r0009"]]


def test_read_units_group_shards_that_share_row_groups(tmp_path):
    write_parquet(tmp_path / "in" / "a.parquet", article_table(23), row_group_size=7)  # groups 0-7-14-21-23
    write_parquet(tmp_path / "in" / "b.parquet", article_table(6, start=23), row_group_size=3)
    shards = split_shards(inspect_input(_spec(tmp_path / "in")).files, rows_per_shard=5)
    spans = [[(Path(s.input_file).name, s.row_start) for s in unit] for unit in read_units(shards)]
    # a: shards 0-5, 5-10, 10-15, 15-20 chain through shared groups; 20-23 shares group 2 with 15-20.
    # b: groups of 3 rows; shard 0-5 ends in group 1, shard 5-6 starts in group 1.
    assert spans == [
        [("a.parquet", 0), ("a.parquet", 5), ("a.parquet", 10), ("a.parquet", 15), ("a.parquet", 20)],
        [("b.parquet", 0), ("b.parquet", 5)],
    ]
    capped = read_units(shards, max_shards=2)
    assert [len(unit) for unit in capped] == [2, 2, 1, 2]
    aligned = split_shards(inspect_input(_spec(tmp_path / "in" / "a.parquet")).files, rows_per_shard=7)
    assert [len(unit) for unit in read_units(aligned)] == [1, 1, 1, 1]  # one row group each


def test_read_shards_streams_a_unit_skipping_rows_between_shards(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", article_table(50), row_group_size=20)
    unit = [  # gaps: done
        Shard(index=1, input_file=str(path), row_start=3, row_end=11),
        Shard(index=4, input_file=str(path), row_start=19, row_end=23),
        Shard(index=7, input_file=str(path), row_start=41, row_end=50),
    ]
    got = [(shard, table.column("id").to_pylist()) for shard, table in read_shards(unit, columns=["id", "score"])]
    assert [shard for shard, _ in got] == unit
    for shard, ids in got:
        assert ids == [f"r{i:04d}" for i in range(shard.row_start, shard.row_end)]


def test_read_shards_names_a_file_shorter_than_planned(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", article_table(4))
    with pytest.raises(InputError, match="input ended at row 4, before row 6"):
        list(read_shards([Shard(index=0, input_file=str(path), row_start=2, row_end=6)], columns=["id"]))


def test_a_carried_column_named_like_an_output_column_is_rejected(tmp_path):
    table = article_table(3).append_column("text", pa.array(["x", "y", "z"]))
    path = write_parquet(tmp_path / "a.parquet", table)
    message = _input_error(_spec(path, columns=["title", "text"]))
    assert message == (
        f"input file {path}: column 'text' (input.columns) has the name of an output column "
        "pressroom writes; rename it in the input or leave it out of the output"
    )


def test_a_template_column_named_prompt_is_fine(tmp_path):
    table = article_table(3).append_column("prompt", pa.array(["x", "y", "z"]))
    spec = _spec(write_parquet(tmp_path / "a.parquet", table), prompt="{{ prompt }}")
    assert inspect_input(spec).template_columns == ["prompt"]


def test_a_missing_quality_reference_column_is_named_before_any_model_loads(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", article_table(3))
    spec = JobSpec.model_validate({**_spec(path).model_dump(mode="json"), "quality": {"reference_column": "summary"}})
    message = _input_error(spec)
    assert str(path) in message and "no column 'summary' (needed by quality.reference_column)" in message
