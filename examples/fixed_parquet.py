"""What the example-table scripts share: byte-stable Parquet output and the same command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_fixed(path: Path, rows: list[dict], *, schema: pa.Schema, dictionary: list[str]) -> None:
    """One row group, fixed writer options: the bytes depend only on the rows."""
    table = pa.Table.from_pylist(rows, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=9,
        row_group_size=len(rows),
        use_dictionary=dictionary,
        write_statistics=True,
    )


def script_main(
    argv: list[str] | None,
    *,
    doc: str,
    default_output: Path,
    build_rows: Callable[[], list[dict]],
    write: Callable[[Path, list[dict]], None],
    noun: str,
) -> int:
    """`script.py [OUT]`: build the rows, write them to OUT (or the default) and say where."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print(doc.strip(), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out = Path(argv[0]) if argv else default_output
    rows = build_rows()
    write(out, rows)
    print(f"wrote {len(rows)} {noun} to {out} ({out.stat().st_size:,} bytes)")
    return 0
