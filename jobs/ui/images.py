"""A caption row's image, read from the input file its manifest lists (outputs hold no images).

Only while that file is unchanged since the run (size, mtime or ETag as the manifest recorded
them): a changed input could show a different image next to the caption. Image paths follow
the render stage's rule for the input's own directory or bucket.
"""

from __future__ import annotations

import io

import pyarrow.dataset as pads

from jobs.query import CommittedRun
from workers.io import storage_for
from workers.render import image_roots, load_image


def image_for(run: CommittedRun, row_id: str) -> tuple[bytes, str] | str:
    """(bytes, media type) of the row's image, or why there is none."""
    column, id_column = run.manifest.image_column, run.manifest.id_column
    if not column or not id_column:
        return "this run has no image column"
    for entry in run.manifest.inputs:
        storage = storage_for(entry.uri)
        try:
            info = storage.stat(entry.uri)
        except FileNotFoundError:
            continue
        if info.size != entry.bytes or (entry.etag and info.etag != entry.etag) or \
                (entry.mtime_ns and info.mtime_ns and info.mtime_ns != entry.mtime_ns):
            continue
        filesystem, path = storage.arrow_filesystem(entry.uri)
        dataset = pads.dataset(path, filesystem=filesystem, format="parquet")
        found = dataset.to_table(columns=[id_column, column],
                                 filter=pads.field(id_column).cast("string") == row_id).column(column).to_pylist()
        if not found:
            continue
        loaded = load_image(found[0], input_file=entry.uri, roots=image_roots(entry.uri, []))
        if loaded.data is None:
            return loaded.error_message or "no image"
        return loaded.data, _media_type(loaded.data)
    return "no unchanged input file of this run holds that row"


def _media_type(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return Image.MIME.get(image.format or "", "application/octet-stream")
