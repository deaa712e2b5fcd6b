"""The committed example table (examples/data/articles.parquet) is sane and reproducible."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "make_articles.py"
DATA = ROOT / "examples" / "data" / "articles.parquet"
COLUMNS = ["article_id", "title", "category", "published", "body"]


@pytest.fixture(scope="module")
def table() -> pa.Table:
    assert DATA.is_file(), f"missing {DATA}: run python {SCRIPT.relative_to(ROOT)}"
    return pq.read_table(DATA)


def test_schema(table):
    assert table.column_names == COLUMNS
    for name in COLUMNS:
        assert table.schema.field(name).type == pa.string(), name


def test_rows_and_ids(table):
    assert table.num_rows >= 150
    ids = table.column("article_id").to_pylist()
    assert None not in ids
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("a-") for i in ids)


def test_content(table):
    rows = table.to_pylist()
    for r in rows:
        assert r["title"] and r["title"].strip(), r["article_id"]
        assert r["body"] and r["body"].strip(), r["article_id"]
        assert 60 <= len(r["body"].split()) <= 180, r["article_id"]
        dt.date.fromisoformat(r["published"])
        assert len(r["published"]) == 10
    assert len({r["category"] for r in rows}) >= 5
    assert len({r["body"] for r in rows}) == len(rows)


def test_file_stays_small():
    assert DATA.stat().st_size < 200 * 1024


def test_generator_is_byte_identical(tmp_path):
    out = tmp_path / "nested" / "articles.parquet"
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True, timeout=120)
    assert out.read_bytes() == DATA.read_bytes(), "re-run examples/make_articles.py and commit the result"
