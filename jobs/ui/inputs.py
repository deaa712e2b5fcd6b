"""A run's input rows, read back from the input files its manifest pins (outputs hold neither
images nor every column a template reads).

Only while a file is unchanged since the run (size, mtime or ETag as the manifest recorded them):
a changed input could show values the run never saw. Only the columns and rows a page asks for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.dataset as pads

from jobs.query import CommittedRun
from schemas.manifest import InputFile
from workers.io import Storage, storage_for


def unchanged_inputs(run: CommittedRun) -> Iterator[tuple[InputFile, Storage]]:
    """The run's input files that are still as the run read them."""
    for entry in run.manifest.inputs:
        storage = storage_for(entry.uri)
        try:
            info = storage.stat(entry.uri)
        except FileNotFoundError:
            continue
        if (
            info.size != entry.bytes
            or (entry.etag and info.etag != entry.etag)
            or (entry.mtime_ns and info.mtime_ns and info.mtime_ns != entry.mtime_ns)
        ):
            continue
        yield entry, storage


def input_rows(run: CommittedRun, ids: list[str], columns: list[str]) -> Iterator[tuple[InputFile, pa.Table]]:
    """Per unchanged input file, its rows whose id (as text) is in `ids`: the id column (named
    `row_id`, as text) and `columns` (those the file has)."""
    id_column = run.manifest.id_column
    if not id_column or not ids:
        return
    for entry, storage in unchanged_inputs(run):
        filesystem, path = storage.arrow_filesystem(entry.uri)
        dataset = pads.dataset(path, filesystem=filesystem, format="parquet")
        wanted = [c for c in dict.fromkeys(columns) if c in dataset.schema.names and c != id_column]
        found = dataset.to_table(columns=[id_column, *wanted], filter=pads.field(id_column).cast(pa.string()).isin(ids))
        if found.num_rows:
            yield entry, found.set_column(0, "row_id", found.column(0).cast(pa.string()))
