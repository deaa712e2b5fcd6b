"""The hand-labelled headline set (examples/data/headlines.parquet) is sane and reproducible."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "make_headlines.py"
DATA = ROOT / "examples" / "data" / "headlines.parquet"
NOTE = ROOT / "examples" / "data" / "headlines.labels.md"
COLUMNS = ["headline_id", "headline", "sentiment", "topic"]
SENTIMENTS = {"negative", "neutral", "positive"}
TOPICS = {"earnings", "mergers", "markets", "macro", "regulation", "products", "management"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    assert DATA.is_file(), f"missing {DATA}: run python {SCRIPT.relative_to(ROOT)}"
    table = pq.read_table(DATA)
    assert table.column_names == COLUMNS
    for name in COLUMNS:
        assert table.schema.field(name).type == pa.string(), name
    return table.to_pylist()


def test_row_count(rows):
    assert len(rows) >= 55


def test_ids_unique_and_well_formed(rows):
    ids = [r["headline_id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert ids == [f"h-{i:03d}" for i in range(1, len(rows) + 1)]


def test_headlines_nonempty_and_unique(rows):
    heads = [r["headline"] for r in rows]
    assert all(h and h.strip() == h for h in heads)
    normalised = [" ".join(h.lower().split()) for h in heads]
    dupes = [h for h, n in Counter(normalised).items() if n > 1]
    assert not dupes, dupes


def test_labels_from_allowed_sets(rows):
    assert {r["sentiment"] for r in rows} <= SENTIMENTS
    assert {r["topic"] for r in rows} <= TOPICS


def test_label_balance(rows):
    sentiments = Counter(r["sentiment"] for r in rows)
    topics = Counter(r["topic"] for r in rows)
    for s in SENTIMENTS:
        assert sentiments[s] >= 12, (s, sentiments)
    for t in TOPICS:
        assert topics[t] >= 5, (t, topics)


def test_label_note_covers_every_label():
    text = NOTE.read_text(encoding="utf-8")
    for label in sorted(SENTIMENTS | TOPICS):
        assert f"`{label}`" in text, label


def test_generator_is_byte_identical(tmp_path):
    out = tmp_path / "nested" / "headlines.parquet"
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True, timeout=120)
    assert out.read_bytes() == DATA.read_bytes(), "re-run examples/make_headlines.py and commit the result"
