"""Write examples/data/incident_notes.parquet: the incident articles, as notes for the report job.

python examples/make_incident_notes.py [OUTPUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "data" / "incident_notes.parquet"
    articles = pq.read_table(HERE / "data" / "articles.parquet")
    notes = articles.filter(pc.equal(articles.column("category"), "incident"))
    notes = notes.select(["article_id", "title", "published", "body"]).rename_columns(
        ["note_id", "title", "published", "notes"]
    )
    pq.write_table(notes, target, compression="zstd")
    print(f"{target}: {notes.num_rows} rows")


if __name__ == "__main__":
    main()
