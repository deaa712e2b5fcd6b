"""A caption row's image, read from the input file its manifest lists (outputs hold no images).

Only while that file is unchanged since the run (jobs.ui.inputs): a changed input could show a
different image next to the caption. Image paths follow the render stage's rule for the input's
own directory or bucket, and its limits (bytes, pixels, formats); the bytes are checked once.
An `ImageIndex` keeps where each row of an unchanged input file lies (row group, offset), built
from its id column once: an image request then reads one row group's image column, not the file.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import pyarrow.parquet as pq

from jobs.query import CommittedRun
from jobs.ui.inputs import unchanged_inputs
from schemas.manifest import InputFile
from workers.render import image_roots, load_image

INDEXED_FILES = 8  # input files whose row positions are kept (the least recently used is dropped)


class ImageIndex:
    """Row positions of unchanged input files, keyed by the file's recorded identity."""

    def __init__(self) -> None:
        self._files: OrderedDict[tuple, dict[str, tuple[int, int]]] = OrderedDict()
        self._lock = threading.Lock()

    def positions(self, entry: InputFile, parquet: pq.ParquetFile, id_column: str) -> dict[str, tuple[int, int]]:
        """id (as text) -> (row group, offset) for the file, read once while it is unchanged."""
        key = (entry.uri, entry.bytes, entry.mtime_ns, entry.etag, id_column)
        with self._lock:
            if key in self._files:
                self._files.move_to_end(key)
                return self._files[key]
        found: dict[str, tuple[int, int]] = {}
        for group in range(parquet.num_row_groups):
            ids = parquet.read_row_group(group, columns=[id_column]).column(0).to_pylist()
            for offset, value in enumerate(ids):
                found.setdefault(str(value), (group, offset))
        with self._lock:
            self._files[key] = found
            while len(self._files) > INDEXED_FILES:
                self._files.popitem(last=False)
        return found


def image_for(run: CommittedRun, row_id: str, index: ImageIndex | None = None) -> tuple[bytes, str] | str:
    """(bytes, media type) of the row's image, or why there is none."""
    column, id_column = run.manifest.image_column, run.manifest.id_column
    if not column or not id_column:
        return "this run has no image column"
    index = index or ImageIndex()
    for entry, storage in unchanged_inputs(run):
        filesystem, path = storage.arrow_filesystem(entry.uri)
        with filesystem.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            if column not in parquet.schema_arrow.names or id_column not in parquet.schema_arrow.names:
                continue
            where = index.positions(entry, parquet, id_column).get(row_id)
            if where is None:
                continue
            value = parquet.read_row_group(where[0], columns=[column]).column(0)[where[1]].as_py()
        loaded = load_image(value, input_file=entry.uri, roots=image_roots(entry.uri, []))
        if loaded.data is None:
            return loaded.error_message or "no image"
        return loaded.data, _media_type(loaded.data)
    return "no unchanged input file of this run holds that row"


def _media_type(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return Image.MIME.get(image.format or "", "application/octet-stream")
