"""A caption row's image, read from the input file its manifest lists (outputs hold no images).

Only while that file is unchanged since the run (jobs.ui.inputs): a changed input could show a
different image next to the caption. Image paths follow the render stage's rule for the input's
own directory or bucket, and its limits (bytes, pixels, formats); the bytes are checked once.
"""

from __future__ import annotations

import io

from jobs.query import CommittedRun
from jobs.ui.inputs import input_rows
from workers.render import image_roots, load_image


def image_for(run: CommittedRun, row_id: str) -> tuple[bytes, str] | str:
    """(bytes, media type) of the row's image, or why there is none."""
    column = run.manifest.image_column
    if not column or not run.manifest.id_column:
        return "this run has no image column"
    for entry, found in input_rows(run, [row_id], [column]):
        if column not in found.column_names:
            continue
        loaded = load_image(found.column(column)[0].as_py(), input_file=entry.uri, roots=image_roots(entry.uri, []))
        if loaded.data is None:
            return loaded.error_message or "no image"
        return loaded.data, _media_type(loaded.data)
    return "no unchanged input file of this run holds that row"


def _media_type(data: bytes) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return Image.MIME.get(image.format or "", "application/octet-stream")
